import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from "jose";
import { createJwtAuthenticator, type JwtAuthenticatorOptions } from "../../../src/identity/jwt.js";

const ISSUER = "https://idp.test";
const AUDIENCE = "plugboard";

interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function newKey(kid: string, alg = "ES256"): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

/** A loopback JWKS endpoint whose key set the test can rotate; counts fetches. */
async function startJwks(): Promise<{ url: string; keys: JWK[]; fetches(): number; close(): Promise<void> }> {
  const state = { keys: [] as JWK[], fetches: 0 };
  const server = http.createServer((_req, res) => {
    state.fetches++;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`,
    get keys() {
      return state.keys;
    },
    set keys(k: JWK[]) {
      state.keys = k;
    },
    fetches: () => state.fetches,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function bearer(token: string): { headers: Headers } {
  return { headers: new Headers({ authorization: `Bearer ${token}` }) };
}

async function sign(key: SigningKey, claims: Record<string, unknown> = {}, edit?: (j: SignJWT) => SignJWT): Promise<string> {
  let jwt = new SignJWT({ roles: ["reader"], ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject("alice")
    .setIssuedAt()
    .setExpirationTime("5m");
  if (edit) jwt = edit(jwt);
  return jwt.sign(key.privateKey);
}

async function refusal(p: Promise<unknown>, token?: string): Promise<ConnectError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ConnectError);
  const ce = err as ConnectError;
  if (token !== undefined) expect(ce.message).not.toContain(token);
  return ce;
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

describe("JWT authenticator against a loopback JWKS server", () => {
  let jwks: Awaited<ReturnType<typeof startJwks>>;
  let key1: SigningKey;
  const base = (): JwtAuthenticatorOptions => ({ jwksUrl: jwks.url, issuer: ISSUER, audience: AUDIENCE, rolesClaim: "roles" });

  beforeAll(async () => {
    jwks = await startJwks();
    key1 = await newKey("k1");
    jwks.keys = [key1.jwk];
  });
  afterAll(async () => {
    await jwks.close();
  });

  it("accepts a valid token and names issuer and subject", async () => {
    const id = await createJwtAuthenticator(base())(bearer(await sign(key1)));
    expect(id).toEqual({ kind: "external", subject: `jwt:${ISSUER}#alice`, method: "jwt", roles: ["reader"], expiresAt: expect.any(Number) });
  });

  it("reads nested and space-separated role claims", async () => {
    const auth = createJwtAuthenticator({ ...base(), rolesClaim: "realm.roles" });
    const id = await auth(bearer(await sign(key1, { realm: { roles: "ops admin" } })));
    expect(id?.roles).toEqual(["ops", "admin"]);
  });

  it("returns undefined for our opaque tokens, non-JWT bearers and requests without credentials", async () => {
    const auth = createJwtAuthenticator(base());
    expect(await auth(bearer("pbrt_abcdefABCDEF0123456789"))).toBeUndefined();
    expect(await auth(bearer("pbrt_aaa.bbb.ccc"))).toBeUndefined();
    expect(await auth(bearer("opaque-thing"))).toBeUndefined();
    expect(await auth({ headers: new Headers() })).toBeUndefined();
    expect(await auth({ headers: new Headers({ authorization: "Basic dXNlcjpwYXNz" }) })).toBeUndefined();
  });

  it("accepts a rotated key after refetching the JWKS (unknown kid)", async () => {
    const auth = createJwtAuthenticator({ ...base(), cooldownMs: 0 });
    await auth(bearer(await sign(key1)));
    const before = jwks.fetches();
    const key2 = await newKey("k2", "RS256");
    jwks.keys = [key1.jwk, key2.jwk];
    try {
      const id = await auth(bearer(await sign(key2)));
      expect(id?.subject).toBe(`jwt:${ISSUER}#alice`);
      expect(jwks.fetches()).toBe(before + 1);
    } finally {
      jwks.keys = [key1.jwk];
    }
  });

  it("refuses an unknown kid, and refetches at most once per cool-down", async () => {
    const auth = createJwtAuthenticator({ ...base(), cooldownMs: 60_000 });
    await auth(bearer(await sign(key1)));
    const before = jwks.fetches();
    const stranger = await newKey("k-unknown");
    for (let i = 0; i < 3; i++) {
      const token = await sign(stranger);
      const err = await refusal(auth(bearer(token)), token);
      expect(err.code).toBe(Code.Unauthenticated);
      expect(err.rawMessage).toMatch(/no key/);
    }
    expect(jwks.fetches()).toBe(before);
  });

  it("refuses a token signed with a key the JWKS does not hold under that kid", async () => {
    const impostor = await newKey("k1");
    const token = await sign(impostor);
    const err = await refusal(createJwtAuthenticator(base())(bearer(token)), token);
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.rawMessage).toMatch(/signature is invalid/);
  });

  it("refuses HS256 and algorithms outside the allow-list before fetching keys", async () => {
    const hs = await new SignJWT({}).setProtectedHeader({ alg: "HS256", kid: "k1" }).setIssuer(ISSUER).setAudience(AUDIENCE)
      .setSubject("alice").setExpirationTime("5m").sign(new TextEncoder().encode("x".repeat(32)));
    const before = jwks.fetches();
    const err = await refusal(createJwtAuthenticator(base())(bearer(hs)), hs);
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.rawMessage).toMatch(/algorithm is not allowed/);
    expect(jwks.fetches()).toBe(before);

    const es = await sign(key1);
    const narrowed = await refusal(createJwtAuthenticator({ ...base(), algorithms: ["RS256"] })(bearer(es)), es);
    expect(narrowed.rawMessage).toMatch(/algorithm is not allowed/);
  });

  it("refuses alg: none", async () => {
    const none = `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ iss: ISSUER, aud: AUDIENCE, sub: "alice", exp: Math.floor(Date.now() / 1000) + 300 })}.`;
    const err = await refusal(createJwtAuthenticator(base())(bearer(none)), none);
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.rawMessage).toMatch(/algorithm is not allowed/);
  });

  it("refuses expired tokens and tokens not yet valid, beyond the clock tolerance", async () => {
    const auth = createJwtAuthenticator({ ...base(), clockToleranceSec: 5 });
    const now = Math.floor(Date.now() / 1000);
    const expired = await sign(key1, {}, (j) => j.setIssuedAt(now - 600).setExpirationTime(now - 60));
    expect((await refusal(auth(bearer(expired)), expired)).rawMessage).toMatch(/expired/);
    const early = await sign(key1, {}, (j) => j.setNotBefore(now + 120));
    expect((await refusal(auth(bearer(early)), early)).rawMessage).toMatch(/not yet valid/);
    // Within tolerance: accepted.
    const justExpired = await sign(key1, {}, (j) => j.setIssuedAt(now - 600).setExpirationTime(now - 2));
    expect(await auth(bearer(justExpired))).toBeDefined();
  });

  it("refuses a wrong audience, a wrong issuer and a missing exp", async () => {
    const auth = createJwtAuthenticator(base());
    const aud = await sign(key1, {}, (j) => j.setAudience("someone-else"));
    expect((await refusal(auth(bearer(aud)), aud)).rawMessage).toMatch(/"aud"/);
    const iss = await sign(key1, {}, (j) => j.setIssuer("https://evil.test"));
    expect((await refusal(auth(bearer(iss)), iss)).rawMessage).toMatch(/"iss"/);
    const noExp = await new SignJWT({}).setProtectedHeader({ alg: "ES256", kid: "k1" }).setIssuer(ISSUER)
      .setAudience(AUDIENCE).setSubject("alice").sign(key1.privateKey);
    expect((await refusal(auth(bearer(noExp)), noExp)).rawMessage).toMatch(/"exp" is missing/);
  });

  it("refuses a replayed jti when the replay cache is on, and a missing jti when required", async () => {
    const auth = createJwtAuthenticator({ ...base(), replayCache: true });
    const token = await sign(key1, {}, (j) => j.setJti("once-only"));
    expect(await auth(bearer(token))).toBeDefined();
    const err = await refusal(auth(bearer(token)), token);
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.rawMessage).toMatch(/already been used/);
    // Another token with a different jti still works.
    expect(await auth(bearer(await sign(key1, {}, (j) => j.setJti("twice"))))).toBeDefined();
    const noJti = await sign(key1);
    expect((await refusal(auth(bearer(noJti)), noJti)).rawMessage).toMatch(/"jti" is missing/);
  });

  it("accepts a jti exactly once even when the same token races itself", async () => {
    const auth = createJwtAuthenticator({ ...base(), replayCache: true });
    const token = await sign(key1, {}, (j) => j.setJti("race"));
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => auth(bearer(token))));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
  });

  it("answers Unavailable when the JWKS cannot be fetched", async () => {
    const dead = await startJwks();
    const url = dead.url;
    await dead.close();
    const auth = createJwtAuthenticator({ ...base(), jwksUrl: url, timeoutMs: 1000 });
    const token = await sign(key1);
    const err = await refusal(auth(bearer(token)), token);
    expect(err.code).toBe(Code.Unavailable);
  });

  it("validates its options", () => {
    const o = base();
    expect(() => createJwtAuthenticator({ ...o, jwksUrl: "http://idp.example/jwks" })).toThrow(/https/);
    expect(() => createJwtAuthenticator({ ...o, algorithms: ["HS256"] })).toThrow(/HS256/);
    expect(() => createJwtAuthenticator({ ...o, algorithms: ["none"] })).toThrow(/none/);
    expect(() => createJwtAuthenticator({ ...o, clockToleranceSec: 61 })).toThrow(/clockToleranceSec/);
    expect(() => createJwtAuthenticator({ ...o, audience: [] })).toThrow(/audience/);
  });
});
