import * as http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { codeOf, startAttackHost, type AttackHost } from "./harness.js";

/** /metrics, /healthz and /readyz are served before dispatch: they must not open a way around authentication. */
let h: AttackHost;
beforeAll(async () => {
  h = await startAttackHost();
});
afterAll(async () => h?.close());

async function raw(url: string, method: string, path: string, body?: string) {
  const session = http2.connect(url);
  session.on("error", () => undefined);
  try {
    return await new Promise<{ status: number; body: string }>((resolve) => {
      const stream = session.request({ ":method": method, ":path": path, "content-type": "application/json" });
      let status = 0;
      let text = "";
      stream.on("response", (h) => (status = Number(h[":status"])));
      stream.setEncoding("utf8");
      stream.on("data", (c: string) => (text += c));
      stream.on("close", () => resolve({ status, body: text }));
      stream.on("error", () => undefined);
      stream.end(body);
    });
  } finally {
    session.close();
  }
}

const RPC = "/plugboard.v1.AdminService/ListRuntimes";

describe("ops endpoints are not an authentication bypass", () => {
  it.each([
    `/metrics/..${RPC}`,
    `/metrics${RPC}`,
    `/healthz/../${RPC.slice(1)}`,
    `${RPC}?/metrics`,
    `${RPC}#/healthz`,
    `/%6Detrics`,
    `//metrics`,
  ])("POST %s reaches no RPC without credentials", async (path) => {
    const res = await raw(h.url, "POST", path, "{}");
    expect(res.status).not.toBe(200);
    expect(res.body).not.toContain("runtimes");
  });

  it("ops paths answer only GET/HEAD and never run an RPC", async () => {
    for (const method of ["POST", "PUT", "DELETE"]) expect((await raw(h.url, method, "/metrics", "{}")).status).toBe(405);
    const head = await raw(h.url, "HEAD", "/healthz");
    expect(head).toEqual({ status: 200, body: "" });
  });

  it("metrics carry no tokens, keys or secrets", async () => {
    await codeOf(h.kv().get({ key: "k" }, { headers: { authorization: `Bearer ${h.consumer.token}` } }));
    const { body } = await raw(h.url, "GET", "/metrics");
    expect(body).toContain("plugboard_routed_calls_total");
    for (const token of [h.consumer.token, h.outsider.token, h.grant.grantToken, h.kvProvider.token]) expect(body).not.toContain(token.slice(5, 20));
    expect(body).not.toContain(Buffer.from(h.kvProvider.signingKey).toString("base64"));
  });

  it("made-up service names in routed paths cannot flood the metrics registry", async () => {
    const session = http2.connect(h.url);
    session.on("error", () => undefined);
    const call = (path: string, auth?: string) =>
      new Promise<void>((resolve) => {
        const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/json", ...(auth ? { authorization: auth } : {}) });
        stream.on("close", () => resolve());
        stream.on("error", () => undefined);
        stream.resume();
        stream.end("{}");
      });
    // Unauthenticated, and authenticated but undeclared: 600 distinct names in all.
    for (let i = 0; i < 300; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => call(`/flood${i + j}.v1.Svc/M`)));
    for (let i = 0; i < 300; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => call(`/authed${i + j}.v1.Svc/M`, `Bearer ${h.outsider.token}`)));
    session.close();
    const { body } = await raw(h.url, "GET", "/metrics");
    expect(body.match(/service="flood/g) ?? []).toHaveLength(0);
    // Names nobody registered never earn a label (test/security/metrics-labels.test.ts).
    expect(body.match(/service="authed/g) ?? []).toHaveLength(0);
    expect(body).toContain('service="unregistered"');
  });
});
