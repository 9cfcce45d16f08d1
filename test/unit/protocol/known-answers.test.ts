/**
 * Known-answer vectors for what foreign plugins must reproduce byte for byte: the caller header
 * and the token formats. The same vectors are printed in docs/protocol.md and read by the Python
 * interop plugin, so the TypeScript code, the docs and a foreign implementation agree.
 */
import { createHash, createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { signCallerHeader, verifyCallerHeader } from "../../../src/protocol/caller-header.js";
import { createMemoryStore } from "../../../src/store/memory.js";
import { createTokenService, tokenDigest } from "../../../src/tokens/tokens.js";

interface Vectors {
  callerHeader: {
    keyHex: string;
    valid: { path: string; nowMs: number; header: string; claims: Record<string, string>; issuedAtMs: number }[];
    invalid: { why: string; path: string; nowMs: number; header: string }[];
  };
  tokens: { kind: "runtime" | "grant"; randomHex: string; token: string; sha256Hex: string }[];
}

const vectors = JSON.parse(
  readFileSync(new URL("../../fixtures/known-answers/vectors.json", import.meta.url), "utf8"),
) as Vectors;
const key = Buffer.from(vectors.callerHeader.keyHex, "hex");

describe("caller header known answers", () => {
  it.each(vectors.callerHeader.valid)("verifies and reproduces $header", (v) => {
    const claims = verifyCallerHeader(v.header, key, v.path, { now: v.nowMs });
    expect(claims).toEqual({
      subject: v.claims["sub"],
      method: v.claims["m"],
      path: v.path,
      issuedAtMs: v.issuedAtMs,
      ...(v.claims["rid"] ? { runtimeId: v.claims["rid"] } : {}),
      ...(v.claims["pn"] ? { pluginName: v.claims["pn"] } : {}),
    });
    const signed = signCallerHeader(
      { subject: claims!.subject, method: claims!.method, path: v.path, ...(claims!.runtimeId ? { runtimeId: claims!.runtimeId } : {}), ...(claims!.pluginName ? { pluginName: claims!.pluginName } : {}) },
      key,
      v.issuedAtMs,
    );
    expect(signed).toBe(v.header);
    // The recipe of docs/protocol.md, written out independently: HMAC over "<signed part>.<path>", base64url without padding.
    const signedPart = v.header.slice(0, v.header.lastIndexOf("."));
    const mac = createHmac("sha256", key).update(`${signedPart}.${v.path}`).digest("base64url");
    expect(v.header.endsWith(`.${mac}`)).toBe(true);
    expect(mac).not.toMatch(/=/);
  });

  it.each(vectors.callerHeader.invalid)("refuses a header $why", (v) => {
    expect(verifyCallerHeader(v.header, key, v.path, { now: v.nowMs })).toBeUndefined();
  });
});

describe("token format known answers", () => {
  it.each(vectors.tokens)("a $kind token from fixed random bytes is $token, stored as its SHA-256", async (v) => {
    const store = createMemoryStore();
    const tokens = createTokenService({ store, random: (size) => (size === 32 ? Buffer.from(v.randomHex, "hex") : Buffer.alloc(size, 7)) });
    const issued = await tokens.issue(v.kind, "rt_x", 60_000, v.kind === "grant" ? { capability: "log.v1.LogService" } : {});
    expect(issued.token).toBe(v.token);
    expect(tokenDigest(v.token)).toBe(v.sha256Hex);
    expect(createHash("sha256").update(v.token).digest("hex")).toBe(v.sha256Hex);
    expect(await store.getCredential(v.sha256Hex)).toMatchObject({ kind: v.kind, runtimeId: "rt_x" });
  });
});
