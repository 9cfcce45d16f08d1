import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Code, ConnectError } from "@connectrpc/connect";
import { parseCallPath } from "../../../src/router/call-path.js";
import { callerTimeoutMs, detectProtocol } from "../../../src/router/wire-protocol.js";
import { EnvelopeScanner } from "../../../src/router/envelope-scanner.js";

describe("parseCallPath", () => {
  it("accepts /pkg.Service/Method with or without query", () => {
    expect(parseCallPath("/kv.v1.KVService/Get")).toEqual({
      service: "kv.v1.KVService",
      method: "Get",
      procedure: "/kv.v1.KVService/Get",
      rawPath: "/kv.v1.KVService/Get",
    });
    expect(parseCallPath("/kv.v1.KVService/Get?connect=v1&encoding=proto")).toMatchObject({ procedure: "/kv.v1.KVService/Get" });
  });

  it("refuses malformed shapes (Unimplemented) and bad names (InvalidArgument)", () => {
    for (const p of [undefined, "", "kv/Get", "/kv.v1.KVService", "/a/b/c", "/kv.v1.KVService/"]) {
      const r = parseCallPath(p);
      expect(r).toBeInstanceOf(ConnectError);
    }
    expect((parseCallPath("/a/b/c") as ConnectError).code).toBe(Code.Unimplemented);
    for (const p of ["/kv..v1/Get", "/kv v1/Get", "/kv.v1.S/G-et", `/${"a".repeat(129)}/Get`, "/../Get", "//Get"]) {
      const r = parseCallPath(p);
      expect(r).toBeInstanceOf(ConnectError);
    }
    expect((parseCallPath("/kv..v1/Get") as ConnectError).code).toBe(Code.InvalidArgument);
  });

  it("property: never throws; accepted paths rebuild exactly", () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const r = parseCallPath(s);
        if (!(r instanceof ConnectError)) expect(`/${r.service}/${r.method}`).toBe(r.procedure);
      }),
    );
  });
});

describe("detectProtocol", () => {
  it.each([
    ["application/proto", "connect-unary"],
    ["application/json; charset=utf-8", "connect-unary"],
    ["application/connect+proto", "connect-stream"],
    ["application/connect+json", "connect-stream"],
    ["application/grpc", "grpc"],
    ["application/grpc+proto", "grpc"],
    ["application/grpc+json", "grpc"],
    ["application/grpc-web+proto", "grpc-web"],
    ["application/grpc-web", "grpc-web"],
    ["application/grpc-web-text+proto", "grpc-web-text"],
    ["text/html", undefined],
    ["application/xml", undefined],
  ])("%s → %s", (ct, expected) => {
    expect(detectProtocol(ct, "POST")).toBe(expected);
  });
  it("GET without content-type is Connect unary", () => {
    expect(detectProtocol(undefined, "GET")).toBe("connect-unary");
    expect(detectProtocol(undefined, "POST")).toBeUndefined();
  });
});

describe("callerTimeoutMs", () => {
  it("reads connect-timeout-ms and grpc-timeout", () => {
    expect(callerTimeoutMs("connect-unary", { "connect-timeout-ms": "250" })).toBe(250);
    expect(callerTimeoutMs("grpc", { "grpc-timeout": "2S" })).toBe(2000);
    expect(callerTimeoutMs("grpc-web", { "grpc-timeout": "500u" })).toBe(1);
    expect(callerTimeoutMs("grpc", {})).toBeUndefined();
    expect(callerTimeoutMs("grpc", { "connect-timeout-ms": "5" })).toBeUndefined();
  });
  it("refuses malformed values with InvalidArgument", () => {
    const r = callerTimeoutMs("connect-stream", { "connect-timeout-ms": "-1" });
    expect(r).toBeInstanceOf(ConnectError);
    expect((r as ConnectError).code).toBe(Code.InvalidArgument);
    expect(callerTimeoutMs("grpc", { "grpc-timeout": "1x" })).toBeInstanceOf(ConnectError);
  });
});

function envelope(flags: number, size: number): Uint8Array {
  const b = new Uint8Array(5 + size);
  b[0] = flags;
  new DataView(b.buffer).setUint32(1, size);
  return b;
}

describe("EnvelopeScanner", () => {
  it("property: any chunking of valid envelopes ends at a boundary and respects the limit", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 300 }), { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }),
        fc.nat({ max: 300 }),
        (sizes, cuts, limit) => {
          const all = Buffer.concat(sizes.map((s) => envelope(0, s)));
          const scanner = new EnvelopeScanner(limit);
          let pos = 0;
          let ok = true;
          for (let i = 0; pos < all.length; i++) {
            const n = cuts[i % cuts.length] as number;
            ok = scanner.push(all.subarray(pos, pos + n)) && ok;
            pos += n;
            if (!ok) break;
          }
          const tooBig = sizes.some((s) => s > limit);
          expect(ok).toBe(!tooBig);
          if (!tooBig) expect(scanner.atBoundary).toBe(true);
        },
      ),
    );
  });

  it("captures the flagged end-of-stream envelope", () => {
    const end = Buffer.from('{"error":{"code":"not_found"}}');
    const frame = Buffer.concat([envelope(0, 3), Buffer.from([2, 0, 0, 0, end.length]), end]);
    const s = new EnvelopeScanner(1 << 20, 0x02);
    s.push(frame.subarray(0, 7));
    expect(s.atBoundary).toBe(false);
    s.push(frame.subarray(7));
    expect(s.atBoundary).toBe(true);
    expect(s.lastCaptured?.toString()).toBe(end.toString());
  });
});
