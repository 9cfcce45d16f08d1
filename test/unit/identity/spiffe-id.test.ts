import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { MAX_SPIFFE_ID_BYTES, MAX_TRUST_DOMAIN_BYTES, parseSpiffeId } from "../../../src/identity/spiffe-id.js";

const tdChar = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789.-_".split(""));
const trustDomain = fc.string({ unit: tdChar, minLength: 1, maxLength: 40 });
const segChar = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_".split(""));
const segment = fc.string({ unit: segChar, minLength: 1, maxLength: 12 }).filter((s) => s !== "." && s !== "..");
const path = fc.array(segment, { maxLength: 6 }).map((segs) => segs.map((s) => `/${s}`).join(""));
const validId = fc.tuple(trustDomain, path).map(([td, p]) => ({ td, p, id: `spiffe://${td}${p}` }));

describe("parseSpiffeId", () => {
  it("accepts every well-formed ID and splits it into trust domain and path", () => {
    fc.assert(
      fc.property(validId, ({ td, p, id }) => {
        const r = parseSpiffeId(id);
        expect(r).toEqual({ ok: true, value: { id, trustDomain: td, path: p } });
      }),
    );
  });

  it("never throws, and whatever it accepts honours the limits and re-assembles to the input", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string().map((s) => `spiffe://${s}`), validId.map((v) => v.id)), (input) => {
        const r = parseSpiffeId(input);
        if (r.ok) {
          expect(`spiffe://${r.value.trustDomain}${r.value.path}`).toBe(input);
          expect(Buffer.byteLength(input)).toBeLessThanOrEqual(MAX_SPIFFE_ID_BYTES);
          expect(r.value.trustDomain.length).toBeLessThanOrEqual(MAX_TRUST_DOMAIN_BYTES);
          expect(r.value.trustDomain).toMatch(/^[a-z0-9._-]+$/);
        } else {
          expect(r.reason.length).toBeGreaterThan(0);
        }
      }),
    );
  });

  it("refuses upper case trust domains, ports, user info, queries and fragments", () => {
    fc.assert(
      fc.property(
        validId,
        fc.constantFrom("upper", "port", "userinfo", "query", "fragment", "percent"),
        ({ td, p }, kind) => {
          const input = {
            upper: `spiffe://${td.toUpperCase()}X${p}`,
            port: `spiffe://${td}:8443${p}`,
            userinfo: `spiffe://user@${td}${p}`,
            query: `spiffe://${td}${p}?x=1`,
            fragment: `spiffe://${td}${p}#frag`,
            percent: `spiffe://${td}/a%2Fb`,
          }[kind];
          expect(parseSpiffeId(input).ok).toBe(false);
        },
      ),
    );
  });

  it("refuses empty, '.' and '..' path segments and trailing slashes", () => {
    fc.assert(
      fc.property(validId, fc.constantFrom("//x", "/./x", "/../x", "/.", "/..", "/"), ({ td, p }, bad) => {
        expect(parseSpiffeId(`spiffe://${td}${p}${bad}`).ok).toBe(false);
      }),
    );
    for (const bad of ["spiffe://td/a//b", "spiffe://td/.", "spiffe://td/a/..", "spiffe://td/a/", "spiffe://td/"]) {
      expect(parseSpiffeId(bad).ok, bad).toBe(false);
    }
  });

  it("refuses a wrong scheme, an empty trust domain and over-long IDs and trust domains", () => {
    expect(parseSpiffeId("SPIFFE://td/a").ok).toBe(false);
    expect(parseSpiffeId("https://td/a").ok).toBe(false);
    expect(parseSpiffeId("spiffe:///a").ok).toBe(false);
    expect(parseSpiffeId(`spiffe://${"a".repeat(MAX_TRUST_DOMAIN_BYTES)}/x`).ok).toBe(true);
    expect(parseSpiffeId(`spiffe://${"a".repeat(MAX_TRUST_DOMAIN_BYTES + 1)}/x`).ok).toBe(false);
    const longPath = `/${"p".repeat(MAX_SPIFFE_ID_BYTES)}`;
    const r = parseSpiffeId(`spiffe://td${longPath}`);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/longer than 2048/);
  });
});
