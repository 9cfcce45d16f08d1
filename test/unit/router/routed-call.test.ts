import type { ServerHttp2Stream } from "node:http2";
import { describe, expect, it } from "vitest";
import type { Identity } from "../../../src/identity/index.js";
import type { CallEndInfo } from "../../../src/router/index.js";
import { RoutedCall, signedClaims, type RoutedCallHooks } from "../../../src/router/routed-call.js";

/* What a routed call tells providers about its caller, and how it reports its end (hooks and span). */

const runtime = (extra: Partial<Identity> = {}): Identity => ({ kind: "runtime", subject: "runtime:r1", method: "token", runtimeId: "r1", roles: [], ...extra });

describe("signedClaims", () => {
  it("a caller without a plugin name is signed as it is", () => {
    const caller = runtime();
    expect(signedClaims(caller)).toBe(caller);
  });

  it("a proven plugin name is signed", () => {
    const caller = runtime({ pluginName: "billing", nameProof: "mtls" });
    expect(signedClaims(caller)).toBe(caller);
  });

  it("an unproven plugin name is left out (it could impersonate); the rest is kept", () => {
    for (const proof of [undefined, "unproven"]) {
      const caller = runtime({ pluginName: "billing", ...(proof ? { nameProof: proof } : {}) } as Partial<Identity>);
      const claims = signedClaims(caller);
      expect("pluginName" in claims).toBe(false);
      expect(claims).toMatchObject({ subject: "runtime:r1", runtimeId: "r1", kind: "runtime" });
    }
  });
});

function routedCall(onCallEnd: RoutedCallHooks["onCallEnd"], startedAgoMs: number): RoutedCall {
  const hooks = { pool: {}, signer: {}, resolve: () => undefined, onCallEnd, onCallRetried: undefined } as unknown as RoutedCallHooks;
  const call = new RoutedCall(hooks, {} as ServerHttp2Stream, { "plugboard-request-id": "req-7" }, "grpc", performance.now() - startedAgoMs);
  call.callPath = { service: "a.v1.S", method: "M", procedure: "/a.v1.S/M", rawPath: "/a.v1.S/M" };
  call.identity = runtime();
  call.runtimeId = "p1";
  return call;
}

describe("RoutedCall.reportEnd", () => {
  it("tells the hook the call, its code, provider and duration since it started (request id only when not ok)", () => {
    const ends: CallEndInfo[] = [];
    const before = performance.now();
    const call = routedCall((i) => ends.push(i), 50);
    call.reportEnd("ok");
    call.reportEnd("not_found");
    const elapsed = performance.now() - before + 50;
    expect(ends[0]).toEqual({ service: "a.v1.S", method: "M", caller: runtime(), code: "ok", durationMs: expect.any(Number), runtimeId: "p1" });
    expect(ends[1]).toEqual({ service: "a.v1.S", method: "M", caller: runtime(), code: "not_found", durationMs: expect.any(Number), runtimeId: "p1", requestId: "req-7" });
    for (const e of ends) {
      expect(e.durationMs).toBeGreaterThanOrEqual(50);
      expect(e.durationMs).toBeLessThanOrEqual(elapsed);
    }
  });

  it("ends the call's span (with or without an end hook)", () => {
    const spans: unknown[] = [];
    const call = routedCall(undefined, 0);
    call.span = { upstreamHeaders: {}, end: (info) => spans.push(info) };
    expect(() => call.reportEnd("unavailable")).not.toThrow();
    expect(spans).toEqual([{ code: "unavailable", caller: "runtime:r1", runtimeId: "p1" }]);
  });

  it("is not yet pending, bridged or settled when made", () => {
    const call = routedCall(undefined, 0);
    expect([call.pendingHeld, call.bridged, call.settled]).toEqual([false, false, false]);
  });
});
