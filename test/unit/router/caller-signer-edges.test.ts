import { describe, expect, it } from "vitest";
import { signCallerHeader, verifyCallerHeader } from "../../../src/protocol/index.js";
import { createCallerSigner } from "../../../src/router/caller-signer.js";

/*
 * Edges of the router's caller-header signer the property test (random keys and times) may miss:
 * keys at the HMAC block size, fractional clocks, and the reuse window's two ends.
 */
const caller = { subject: "runtime:rt_a", method: "token", runtimeId: "rt_a", pluginName: "consumer" };
const PATH = "/kv.v1.KVService/Get";

describe("router caller signer, keys at the HMAC block size", () => {
  it.each([63, 64, 65, 128])("a %i-byte key signs exactly as signCallerHeader", (length) => {
    const key = Buffer.alloc(length);
    for (let i = 0; i < length; i++) key[i] = (i * 37 + 11) & 0xff;
    const signer = createCallerSigner();
    expect(signer.sign(caller, PATH, key, 5_000)).toBe(signCallerHeader({ ...caller, path: PATH }, key, 5_000));
  });
});

describe("router caller signer, the signing time", () => {
  it("a fractional clock is cut to whole milliseconds, as signCallerHeader does", () => {
    const key = Buffer.alloc(32, 1);
    const value = createCallerSigner().sign(caller, PATH, key, 12_345.75);
    expect(value).toBe(signCallerHeader({ ...caller, path: PATH }, key, 12_345.75));
    expect(value.split(".")[1]).toBe("12345");
  });
});

describe("router caller signer, the reuse window", () => {
  it("a second call at the very same time gets the same header", () => {
    const signer = createCallerSigner();
    const key = Buffer.alloc(32, 2);
    const first = signer.sign(caller, PATH, key, 20_000);
    expect(signer.sign(caller, PATH, key, 20_000)).toBe(first);
    expect(signer.sign(caller, PATH, key, 20_999)).toBe(first);
  });

  it("a clock that stepped back never reuses a header stamped in its future", () => {
    const signer = createCallerSigner();
    const key = Buffer.alloc(32, 4);
    const first = signer.sign(caller, PATH, key, 30_000);
    const earlier = signer.sign(caller, PATH, key, 29_999);
    expect(earlier).not.toBe(first);
    expect(earlier).toBe(signCallerHeader({ ...caller, path: PATH }, key, 29_999));
    expect(verifyCallerHeader(earlier, key, PATH, { now: 29_999 })).toMatchObject({ subject: "runtime:rt_a" });
  });

  it("the header cached for one key stays with it while other keys sign (no cross-key reuse, no loss)", () => {
    const signer = createCallerSigner();
    const a = Buffer.alloc(32, 5);
    const b = Buffer.alloc(32, 6);
    const first = signer.sign(caller, PATH, a, 40_000);
    const other = signer.sign(caller, PATH, b, 40_100);
    expect(other).toBe(signCallerHeader({ ...caller, path: PATH }, b, 40_100));
    expect(signer.sign(caller, PATH, a, 40_200)).toBe(first);
  });

  it("headers of several paths signed with one key are all kept for reuse, not only the last one", () => {
    const signer = createCallerSigner();
    const key = Buffer.alloc(32, 8);
    const a = signer.sign(caller, "/a.B/A", key, 60_000);
    const b = signer.sign(caller, "/a.B/B", key, 60_100);
    expect(signer.sign(caller, "/a.B/A", key, 60_200)).toBe(a);
    expect(signer.sign(caller, "/a.B/B", key, 60_300)).toBe(b);
  });

  it("a path whose text continues into the claims is not confused with another (path and body both key the reuse)", () => {
    const signer = createCallerSigner();
    const key = Buffer.alloc(32, 7);
    const one = signer.sign({ subject: "s", method: "token" }, "/a.B/C", key, 50_000);
    const two = signer.sign({ subject: "s2", method: "token" }, "/a.B/C", key, 50_000);
    expect(two).not.toBe(one);
    expect(two).toBe(signCallerHeader({ subject: "s2", method: "token", path: "/a.B/C" }, key, 50_000));
  });
});
