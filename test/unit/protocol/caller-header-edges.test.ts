/**
 * The caller header's verification at each edge (docs/protocol.md wire format): size cap, shape,
 * version, clock window boundaries, MAC, and the claims body. Headers with a valid MAC but a bad body
 * are signed here by the documented formula, so only the body check can refuse them.
 */
import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signCallerHeader, verifyCallerHeader } from "../../../src/protocol/caller-header.js";

const key = randomBytes(32);
const PATH = "/kv.v1.KVService/Get";
const NOW = 1_700_000_000_000;

/** A header over `body` (any text) signed with `key`, as the wire format says. */
function signRaw(body: string, iat: number | string = NOW, version = "v1"): string {
  const signedPart = `${version}.${iat}.${Buffer.from(body).toString("base64url")}`;
  const mac = createHmac("sha256", key).update(signedPart).update(".").update(PATH).digest("base64url");
  return `${signedPart}.${mac}`;
}
const verify = (value: string | undefined | null, opts: Parameters<typeof verifyCallerHeader>[3] = { now: NOW }) => verifyCallerHeader(value, key, PATH, opts);

describe("caller header verification edges", () => {
  it("returns exactly the claims signed, with the path and issue time", () => {
    const header = signCallerHeader({ subject: "s", method: "token", runtimeId: "rt_1", pluginName: "kv", path: PATH }, key, NOW);
    expect(verify(header)).toEqual({ subject: "s", method: "token", runtimeId: "rt_1", pluginName: "kv", path: PATH, issuedAtMs: NOW });
    const bare = signCallerHeader({ subject: "s", method: "mtls", path: PATH }, key, NOW);
    const claims = verify(bare)!;
    expect(claims).toEqual({ subject: "s", method: "mtls", path: PATH, issuedAtMs: NOW });
    expect(Object.keys(claims)).not.toContain("runtimeId");
    expect(Object.keys(claims)).not.toContain("pluginName");
  });

  it("accepts a header of 4096 characters and refuses one of 4097 before parsing", () => {
    // The MAC is valid for both: only the size cap can refuse the longer one. The issue time's digit
    // count (with `now` set to it) tunes the length to the exact character.
    const ofLength = (length: number) => {
      for (let pad = 0; pad < 4_000; pad++) {
        for (const iat of [NOW, 10 * NOW, 100 * NOW]) {
          const header = signRaw(JSON.stringify({ sub: "s", m: "m", pn: "x".repeat(pad) }), iat);
          if (header.length === length) return { header, now: iat };
        }
      }
      throw new Error(`no header of length ${length}`);
    };
    const at4096 = ofLength(4096);
    const at4097 = ofLength(4097);
    expect(verify(at4096.header, { now: at4096.now })).toBeDefined();
    expect(verify(at4097.header, { now: at4097.now })).toBeUndefined();
  });

  it("refuses non-strings and malformed shapes", () => {
    const good = signCallerHeader({ subject: "s", method: "m", path: PATH }, key, NOW);
    expect(verify(undefined)).toBeUndefined();
    expect(verify(null)).toBeUndefined();
    expect(verify("")).toBeUndefined();
    expect(verify("no-dots-at-all")).toBeUndefined();
    expect(verify(good.replace(/^v1\./, "v2."))).toBeUndefined();
    expect(verify(signRaw(JSON.stringify({ sub: "s", m: "m" }), NOW, "v2"))).toBeUndefined();
    expect(verify(signRaw(JSON.stringify({ sub: "s", m: "m" }), "12ab"))).toBeUndefined();
    expect(verify(signRaw(JSON.stringify({ sub: "s", m: "m" }), "1".repeat(16)))).toBeUndefined();
    expect(verify(signRaw(JSON.stringify({ sub: "s", m: "m" }), ""))).toBeUndefined();
    for (const iat of [`x${NOW}`, `-${NOW}`, `${NOW}x`, ` ${NOW}`]) expect(verify(signRaw(JSON.stringify({ sub: "s", m: "m" }), iat)), iat).toBeUndefined();
    // Four parts before the MAC (an extra segment) is not the format, even correctly MACed.
    const fourParts = (() => {
      const signedPart = `v1.${NOW}.${Buffer.from(JSON.stringify({ sub: "s", m: "m" })).toString("base64url")}.e30`;
      return `${signedPart}.${createHmac("sha256", key).update(signedPart).update(".").update(PATH).digest("base64url")}`;
    })();
    expect(verify(fourParts)).toBeUndefined();
    // A well-formed header verifies with these same helpers (the refusals above are the shape's).
    expect(verify(signRaw(JSON.stringify({ sub: "s", m: "m" })))).toBeDefined();
  });

  it("holds the age and future-skew windows at their exact bounds, defaults and options", () => {
    const at = (iat: number) => signCallerHeader({ subject: "s", method: "m", path: PATH }, key, iat);
    expect(verify(at(NOW - 60_000))).toBeDefined();
    expect(verify(at(NOW - 60_001))).toBeUndefined();
    expect(verify(at(NOW + 5_000))).toBeDefined();
    expect(verify(at(NOW + 5_001))).toBeUndefined();
    expect(verify(at(NOW - 1_000), { now: NOW, maxAgeMs: 1_000 })).toBeDefined();
    expect(verify(at(NOW - 1_001), { now: NOW, maxAgeMs: 1_000 })).toBeUndefined();
    expect(verify(at(NOW + 100), { now: NOW, maxFutureSkewMs: 100 })).toBeDefined();
    expect(verify(at(NOW + 101), { now: NOW, maxFutureSkewMs: 100 })).toBeUndefined();
    // Without `now`, the real clock.
    expect(verifyCallerHeader(signCallerHeader({ subject: "s", method: "m", path: PATH }, key), key, PATH)).toBeDefined();
    expect(verifyCallerHeader(at(Date.now() - 120_000), key, PATH)).toBeUndefined();
  });

  it("refuses another key, another path, and a MAC of another length", () => {
    const good = signCallerHeader({ subject: "s", method: "m", path: PATH }, key, NOW);
    expect(verifyCallerHeader(good, randomBytes(32), PATH, { now: NOW })).toBeUndefined();
    expect(verifyCallerHeader(good, key, "/kv.v1.KVService/Put", { now: NOW })).toBeUndefined();
    expect(verify(good.slice(0, -1))).toBeUndefined();
    expect(verify(good + "A")).toBeUndefined();
  });

  it("refuses a MAC text that only maps to the right bytes (characters past U+00FF lose their high byte in latin1)", () => {
    const good = signCallerHeader({ subject: "s", method: "m", path: PATH }, key, NOW);
    const macAt = good.lastIndexOf(".") + 1;
    const mac = good.slice(macAt);
    // U+0100 + c has c as its low byte: the same bytes as the real MAC in latin1, another header as text.
    const lookAlike = [...mac].map((c, i) => (i === 0 ? String.fromCharCode(0x100 + c.charCodeAt(0)) : c)).join("");
    expect(lookAlike).not.toBe(mac);
    expect(verify(good.slice(0, macAt) + lookAlike)).toBeUndefined();
    expect(verify(good)).toBeDefined();
  });

  it("refuses a correctly MACed body that is not a JSON object with string sub and m", () => {
    for (const body of ["not json", "null", "42", '"s"', "{}", '{"sub":"s"}', '{"m":"m"}', '{"sub":1,"m":"m"}', '{"sub":"s","m":2}']) {
      expect(verify(signRaw(body)), body).toBeUndefined();
    }
    const odd = verify(signRaw(JSON.stringify({ sub: "s", m: "m", rid: 5, pn: null })))!;
    expect(odd).toEqual({ subject: "s", method: "m", path: PATH, issuedAtMs: NOW });
  });
});
