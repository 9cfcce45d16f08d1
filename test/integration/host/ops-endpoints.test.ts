import * as http2 from "node:http2";
import { Writable } from "node:stream";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { RegistryService } from "../../../gen/plugboard/v1/registry_pb.js";
import type { AuditRecord } from "../../../src/audit/index.js";
import { createLogger } from "../../../src/log/logger.js";
import { createMemoryStore } from "../../../src/store/memory.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { createTransports } from "../../helpers/transports.js";

/** One GET over its own HTTP/2 session (closed afterwards). */
export async function h2Get(url: string, path: string, method = "GET"): Promise<{ status: number; body: string; headers: http2.IncomingHttpHeaders }> {
  const session = http2.connect(url);
  try {
    return await new Promise((resolve, reject) => {
      const stream = session.request({ ":method": method, ":path": path });
      let body = "";
      let headers: http2.IncomingHttpHeaders = {};
      stream.on("response", (h) => (headers = h));
      stream.setEncoding("utf8");
      stream.on("data", (c: string) => (body += c));
      stream.on("end", () => resolve({ status: Number(headers[":status"]), body, headers }));
      stream.on("error", reject);
      stream.end();
    });
  } finally {
    session.close();
  }
}

let t: TestHost | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe("operational endpoints", () => {
  it("serve /healthz, /readyz and /metrics on the main port", async () => {
    t = await startTestHost();
    await t.handshake();
    expect((await h2Get(t.url, "/healthz")).status).toBe(200);
    expect((await h2Get(t.url, "/readyz")).status).toBe(200);
    const metrics = await h2Get(t.url, "/metrics?x=1");
    expect(metrics.status).toBe(200);
    expect(metrics.headers["content-type"]).toMatch(/^text\/plain/);
    expect(metrics.body).toContain('plugboard_rpc_calls_total{method="plugboard.v1.HandshakeService/Handshake",code="ok"} 1');
    expect(metrics.body).toContain("plugboard_active_plugins");
    expect((await h2Get(t.url, "/metrics", "POST")).status).toBe(405);
  });

  it("/readyz is 503 while the store does not answer its ping", async () => {
    const store = createMemoryStore();
    let up = false;
    store.ping = async () => up;
    t = await startTestHost({ store });
    expect((await h2Get(t.url, "/readyz")).status).toBe(503);
    up = true;
    expect((await h2Get(t.url, "/readyz")).status).toBe(200);
    store.ping = () => Promise.reject(new Error("down"));
    expect((await h2Get(t.url, "/readyz")).status).toBe(503);
  });

  it("can move to a separate HTTP/1.1 port and off the main one", async () => {
    t = await startTestHost({ opsOnMainPort: false });
    const ops = await t.host.listenOps();
    expect((await fetch(`${ops.url}/healthz`)).status).toBe(200);
    const scraped = await fetch(`${ops.url}/metrics`);
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain("plugboard_rpc_calls_total");
    // Only ops paths exist there: RPC paths are not served on the ops port at all.
    expect((await fetch(`${ops.url}/plugboard.v1.RegistryService/Discover`, { method: "POST" })).status).toBe(404);
    // On the main port /metrics is now just an unknown path for the router, not metrics.
    const main = await h2Get(t.url, "/metrics");
    expect(main.status).not.toBe(200);
    expect(main.body).not.toContain("plugboard_");
  });
});

describe("audit and metrics wiring", () => {
  it("audits refused authentication on host RPCs with the caller's request id, and counts it", async () => {
    const records: AuditRecord[] = [];
    t = await startTestHost({ auditLog: { destination: (r) => records.push(r) } });
    const transports = createTransports(t.url);
    const registry = createClient(RegistryService, transports.make("connect"));
    const token = `pbrt_${"Q".repeat(43)}`;
    const err = await registry.discover({ serviceType: "a.B" }, { headers: { authorization: `Bearer ${token}`, "plugboard-request-id": "trace-7" } }).catch((e) => ConnectError.from(e));
    transports.close();
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.Unauthenticated);
    const refusal = records.find((r) => r.event === "authentication");
    expect(refusal).toMatchObject({ outcome: "failure", target: "/plugboard.v1.RegistryService/Discover", requestId: "trace-7" });
    expect(JSON.stringify(records)).not.toContain("Q".repeat(20));
    const { body } = await h2Get(t.url, "/metrics");
    expect(body).toContain('plugboard_auth_attempts_total{method="token",result="failure"} 1');
    expect(body).toContain('plugboard_rpc_calls_total{method="plugboard.v1.RegistryService/Discover",code="unauthenticated"} 1');
  });

  it("handshakes are audited by the default sink with a request id echoed to the caller", async () => {
    const records: AuditRecord[] = [];
    t = await startTestHost({ auditLog: { destination: (r) => records.push(r) } });
    await t.handshake();
    expect(records.find((r) => r.event === "handshake")).toMatchObject({ outcome: "success", requestId: expect.stringMatching(/^req_/) });
    expect((await h2Get(t.url, "/healthz")).headers["plugboard-request-id"]).toMatch(/^req_/);
  });

  it("warns about plain text off loopback once per host, however often it listens", async () => {
    const lines: string[] = [];
    const destination = new Writable({ write: (c, _e, done) => (lines.push(String(c)), done()) });
    t = await startTestHost({ logger: createLogger({ destination, level: "warn" }) });
    await t.host.listen({ hostname: "0.0.0.0" });
    await t.host.listen({ hostname: "0.0.0.0" });
    expect(lines.filter((l) => l.includes("plain-text h2c off loopback"))).toHaveLength(1);
  });
});
