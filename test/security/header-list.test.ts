import { afterEach, describe, expect, it } from "vitest";
import type * as http2 from "node:http2";
import { DEFAULT_LIMITS } from "../../src/protocol/constants.js";
import { COOKIE } from "../helpers/host.js";
import { startAttackHost, type AttackHost } from "./harness.js";
import { connect, request } from "./h2-streams.js";

/**
 * Hole 8 of issue 12: maxHeaderListBytes was only an HTTP/2 SETTINGS value, which binds a client
 * only once it has acknowledged the SETTINGS: the first requests of every connection carried
 * ~64 KiB of headers into handlers. The handler now measures each request's header list itself
 * (RFC 9113 §6.5.2: name + value + 32 bytes per field) and refuses an oversize one with
 * resource_exhausted before anything else runs, on host RPCs and routed calls alike.
 */
let a: AttackHost | undefined;
const sessions: http2.ClientHttp2Session[] = [];
afterEach(async () => {
  // node:http2 (v20) loops forever when a client session is destroyed in the same tick as one of its
  // streams' "close" (what the test last awaited): destroy from a fresh macrotask.
  await new Promise((resolve) => setImmediate(resolve));
  for (const s of sessions.splice(0)) s.destroy();
  await a?.close();
  a = undefined;
});

/** A header that, with the request's own, exceeds the default limit by far (but is under nghttp2's own ~64 KiB). */
const BIG = { "x-padding": "a".repeat(40_000) };
const handshakeBody = JSON.stringify({
  magicCookieKey: COOKIE.key,
  magicCookieValue: COOKIE.value,
  coreProtocolVersion: 1,
  appProtocolRanges: ["^1.0.0"],
  pluginName: "padded",
  pluginVersion: "1.0.0",
});

/** Sends one request as the first (and only) request of a fresh connection, before any SETTINGS ACK. */
function firstRequest(url: string, headers: http2.OutgoingHttpHeaders, body: string | Uint8Array) {
  const session = connect(url);
  sessions.push(session);
  return request(session, headers, body).outcome;
}

describe("the header-list limit is enforced by the handler", () => {
  it("the default is 16 KiB", () => {
    expect(DEFAULT_LIMITS.maxHeaderListBytes).toBe(16 * 1024);
  });

  it("a host RPC with oversize headers is refused with resource_exhausted and never runs", async () => {
    a = await startAttackHost();
    const before = (await a.t.host.store.listRuntimes()).length;
    const out = await firstRequest(
      a.url,
      { ":path": "/plugboard.v1.HandshakeService/Handshake", "content-type": "application/json", ...BIG },
      handshakeBody,
    );
    expect(out.status).toBe(429);
    expect(JSON.parse(out.body)).toMatchObject({ code: "resource_exhausted" });
    expect(out.body).toContain("maxHeaderListBytes");
    expect((await a.t.host.store.listRuntimes()).length).toBe(before);
  });

  it("the same request under the limit is served", async () => {
    a = await startAttackHost();
    const out = await firstRequest(
      a.url,
      { ":path": "/plugboard.v1.HandshakeService/Handshake", "content-type": "application/json", "x-padding": "a".repeat(8_000) },
      // The plugin proves its name (issue 12), so the only thing judged is the header size.
      JSON.stringify({ ...JSON.parse(handshakeBody), enrolmentToken: await a.t.enrol("padded") }),
    );
    expect(out.status).toBe(200);
    expect(JSON.parse(out.body)).toHaveProperty("runtimeToken");
  });

  it("a routed call with oversize headers is refused in the caller's protocol and never reaches the provider", async () => {
    a = await startAttackHost();
    const out = await firstRequest(
      a.url,
      {
        ":path": "/kv.v1.KVService/Get",
        "content-type": "application/grpc+proto",
        te: "trailers",
        authorization: `Bearer ${a.consumer.token}`,
        ...BIG,
      },
      Buffer.from([0, 0, 0, 0, 0]),
    );
    expect(out.status).toBe(200);
    expect(out.headers["grpc-status"] ?? out.trailers["grpc-status"]).toBe("8");
    expect(decodeURIComponent(String(out.headers["grpc-message"] ?? out.trailers["grpc-message"]))).toContain("maxHeaderListBytes");
    expect(a.view.headers).toBeUndefined();
  });

  it("a non-RPC request with oversize headers gets HTTP 431", async () => {
    a = await startAttackHost();
    const out = await firstRequest(a.url, { ":method": "GET", ":path": "/metrics", ...BIG }, "");
    expect(out.status).toBe(431);
  });
});
