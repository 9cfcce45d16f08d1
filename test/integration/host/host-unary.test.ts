import * as http2 from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { HandshakeRequestSchema, HandshakeResponseSchema, HandshakeService } from "../../../gen/plugboard/v1/handshake_pb.js";
import { RegisterRequestSchema, RegistryService } from "../../../gen/plugboard/v1/registry_pb.js";
import type { AuditRecord } from "../../../src/audit/audit-log.js";
import { bearer, PROTOCOLS } from "../../helpers/transports.js";
import { handshakeRequest, startTestHost, type TestHost } from "../../helpers/host.js";

/**
 * Host unary methods over Connect binary are served from the raw stream (src/host-unary); these check,
 * through a real host, that they keep what the connect-es path gives: the request id, auditing,
 * the same refusals in every protocol, and revocation seen at once (nothing cached).
 */
let t: TestHost | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

function post(url: string, path: string, body: Uint8Array, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const session = http2.connect(url);
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/proto", ...headers });
    const chunks: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    req.on("response", (h) => (head = h));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      resolve({ status: Number(head[":status"]), headers: head, body: Buffer.concat(chunks) });
      setImmediate(() => session.close());
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("host unary methods on the raw stream", () => {
  it("a Connect binary handshake echoes the request id and is audited under it", async () => {
    const records: AuditRecord[] = [];
    t = await startTestHost({ auditLog: { destination: (r) => records.push(r) } });
    const req = create(HandshakeRequestSchema, { ...handshakeRequest(), enrolmentToken: await t.enrol("kv") });
    const res = await post(t.url, "/plugboard.v1.HandshakeService/Handshake", toBinary(HandshakeRequestSchema, req), {
      "plugboard-request-id": "trace-41",
    });
    expect(res.status).toBe(200);
    expect(res.headers["plugboard-request-id"]).toBe("trace-41");
    expect(fromBinary(HandshakeResponseSchema, res.body).runtimeId).toMatch(/^rt_/);
    expect(records.find((r) => r.event === "handshake")).toMatchObject({ outcome: "success", requestId: "trace-41" });
    const fresh = await post(t.url, "/plugboard.v1.HandshakeService/Handshake", toBinary(HandshakeRequestSchema, handshakeRequest()));
    expect(fresh.headers["plugboard-request-id"]).toMatch(/^req_/);
  });

  it("refuses alike in every protocol and format (Connect binary on the raw stream, the rest through connect-es)", async () => {
    t = await startTestHost();
    const jsonSessions = new Http2SessionManager(t.url);
    const json = createClient(HandshakeService, createConnectTransport({ baseUrl: t.url, httpVersion: "2", useBinaryFormat: false, sessionManager: jsonSessions }));
    const clients = [...PROTOCOLS.map((p) => t!.clients(p).handshake), json];
    const refusals = await Promise.all(
      clients.map((c) => c.handshake(handshakeRequest({ magicCookieValue: "wrong" })).then(() => undefined, (e) => ConnectError.from(e))),
    );
    for (const err of refusals) {
      expect(err?.code).toBe(Code.FailedPrecondition);
      expect(err?.rawMessage).toBe(refusals[0]!.rawMessage);
    }
    const unproven = await Promise.all(clients.map((c) => c.handshake(handshakeRequest()).then(() => undefined, (e) => ConnectError.from(e))));
    for (const err of unproven) expect([err?.code, err?.rawMessage]).toEqual([unproven[0]!.code, unproven[0]!.rawMessage]);
    await new Promise((r) => setImmediate(r));
    jsonSessions.abort();
  });

  it("Register needs a live runtime token: refused without one, and at once after revocation", async () => {
    t = await startTestHost();
    const { runtimeId, token } = await t.handshake({ provides: [{ type: "kv.v1.KVService", version: "1.0.0" }], baseUrl: "http://127.0.0.1:1" });
    const registry = t.clients("connect").registry;
    const anonymous = await registry.register({ serviceType: "kv.v1.KVService" }).catch((e) => ConnectError.from(e));
    expect((anonymous as ConnectError).code).toBe(Code.Unauthenticated);
    expect((await registry.register({ serviceType: "kv.v1.KVService" }, bearer(token))).registration?.runtimeId).toBe(runtimeId);
    await t.clients("connect").handshake.revoke({ runtimeId }, bearer(token));
    const body = toBinary(RegisterRequestSchema, create(RegisterRequestSchema, { serviceType: "kv.v1.KVService" }));
    const after = await post(t.url, "/plugboard.v1.RegistryService/Register", body, { authorization: `Bearer ${token}` });
    expect(after.status).toBe(401);
    expect(JSON.parse(after.body.toString())).toMatchObject({ code: "unauthenticated" });
  });

  it("other host services' unary methods take the same path (Health.Check, public)", async () => {
    t = await startTestHost();
    const res = await post(t.url, "/grpc.health.v1.Health/Check", new Uint8Array(0));
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/proto");
    // A method that needs a caller still refuses one without credentials on this path.
    const denied = await post(t.url, `/${RegistryService.typeName}/Discover`, new Uint8Array(0));
    expect(JSON.parse(denied.body.toString())).toMatchObject({ code: "unauthenticated" });
  });
});
