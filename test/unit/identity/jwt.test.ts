/**
 * The JWT authenticator's edges, against real jose-signed tokens with keys made in the test and a
 * loopback JWKS endpoint: option validation (each message), which bearer values are JWTs, the size
 * limit, each jose failure's Connect code and message, claims (roles, plugin name, sub, jti) and
 * the identity's expiry. Written against the survivors of `npm run mutate -- identity` (docs/testing.md).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { CompactSign, SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from "jose";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DEFAULT_JWT_ALGORITHMS,
  JWT_ASYMMETRIC_ALGORITHMS,
  createJwtAuthenticator,
  extractBearerJwt,
  type JwtAuthenticatorOptions,
} from "../../../src/identity/jwt.js";

const ISSUER = "https://idp.test";
const AUDIENCE = "plugboard";

interface Jwks {
  url: string;
  keys: JWK[];
  fetches: number;
  /** When set, requests wait for it (or for the client to give up). */
  hold?: Promise<void>;
  status: number;
}

let jwks: Jwks;
let server: http.Server;
let privateKey: CryptoKey;
let publicJwk: JWK;

beforeAll(async () => {
  const pair = await generateKeyPair("ES256", { extractable: true });
  privateKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
  jwks = { url: "", keys: [publicJwk], fetches: 0, status: 200 };
  server = http.createServer((_req, res) => {
    jwks.fetches++;
    const answer = () => {
      res.writeHead(jwks.status, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys: jwks.keys }));
    };
    if (jwks.hold) void jwks.hold.then(answer);
    else answer();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  jwks.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const base = (extra: Partial<JwtAuthenticatorOptions> = {}): JwtAuthenticatorOptions => ({
  jwksUrl: jwks.url,
  issuer: ISSUER,
  audience: AUDIENCE,
  ...extra,
});
const bearer = (token: string) => ({ headers: new Headers({ authorization: `Bearer ${token}` }) });
const nowSec = () => Math.floor(Date.now() / 1000);

function jwt(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): SignJWT {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "ES256", kid: "k1", ...header })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject("alice")
    .setIssuedAt()
    .setExpirationTime("5m");
}
const sign = (claims: Record<string, unknown> = {}, edit: (j: SignJWT) => SignJWT = (j) => j) => edit(jwt(claims)).sign(privateKey);

async function refusal(p: Promise<unknown>): Promise<ConnectError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ConnectError);
  return err as ConnectError;
}
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
/** Signs a header jose's signer refuses to write (an unknown critical extension). */
async function signRaw(header: Record<string, unknown>, payload: Record<string, unknown>): Promise<string> {
  const input = `${b64url(header)}.${b64url(payload)}`;
  const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, new TextEncoder().encode(input));
  return `${input}.${Buffer.from(signature).toString("base64url")}`;
}

describe("options", () => {
  const refused = (extra: Record<string, unknown>) => () => createJwtAuthenticator(base(extra as Partial<JwtAuthenticatorOptions>));

  it("names the JWKS URL's problem", () => {
    expect(refused({ jwksUrl: "not a url" })).toThrow(new TypeError("jwt: jwksUrl must be an absolute URL"));
    for (const url of ["http://idp.example/jwks", "ftp://127.0.0.1/jwks", "http://127.0.0.2/jwks", "ws://localhost/jwks"]) {
      expect(refused({ jwksUrl: url })).toThrow(new TypeError("jwt: jwksUrl must use https (plain http is allowed only on loopback)"));
    }
    for (const url of ["https://idp.example/jwks", "http://127.0.0.1:1/jwks", "http://[::1]:1/jwks", "http://localhost:1/jwks"]) {
      expect(refused({ jwksUrl: url })).not.toThrow();
    }
  });

  it("allows only asymmetric algorithms, and at least one", () => {
    expect(refused({ algorithms: [] })).toThrow(new TypeError("jwt: algorithms must not be empty"));
    expect(refused({ algorithms: ["ES256", "HS256"] })).toThrow(
      new TypeError(`jwt: algorithms entry "HS256" is not an allowed asymmetric algorithm (${JWT_ASYMMETRIC_ALGORITHMS.join(", ")})`),
    );
    expect(refused({ algorithms: [...JWT_ASYMMETRIC_ALGORITHMS] })).not.toThrow();
    expect(DEFAULT_JWT_ALGORITHMS.every((a) => (JWT_ASYMMETRIC_ALGORITHMS as readonly string[]).includes(a))).toBe(true);
  });

  it("bounds the clock tolerance to 0..60 seconds", () => {
    for (const bad of [-1, 61, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(refused({ clockToleranceSec: bad })).toThrow(new TypeError("jwt: clockToleranceSec must be between 0 and 60"));
    }
    for (const ok of [0, 60]) expect(refused({ clockToleranceSec: ok })).not.toThrow();
  });

  it("refuses empty or non-string claim names", () => {
    for (const bad of ["", 7]) {
      expect(refused({ rolesClaim: bad })).toThrow(new TypeError("jwt: rolesClaim must be a non-empty string"));
      expect(refused({ pluginNameClaim: bad })).toThrow(new TypeError("jwt: pluginNameClaim must be a non-empty string"));
    }
  });

  it("needs a non-empty issuer and audience", () => {
    for (const field of ["issuer", "audience"]) {
      for (const bad of ["", [], [""], ["a", ""], ["a", 7]]) {
        expect(refused({ [field]: bad })).toThrow(new TypeError(`jwt: ${field} must be a non-empty string or array of non-empty strings`));
      }
      expect(refused({ [field]: ["a", "b"] })).not.toThrow();
    }
  });

  it("bounds the numeric limits", () => {
    const must = (field: string, min: number) => new TypeError(`jwt: ${field} must be a number ≥ ${min}`);
    for (const [field, min] of [["replayCacheMaxEntries", 1], ["timeoutMs", 1], ["maxTokenBytes", 1], ["cooldownMs", 0], ["cacheMaxAgeMs", 0]] as const) {
      expect(refused({ [field]: min - 1 })).toThrow(must(field, min));
      expect(refused({ [field]: Number.NaN })).toThrow(must(field, min));
      expect(refused({ [field]: Number.POSITIVE_INFINITY })).toThrow(must(field, min));
      expect(refused({ [field]: min })).not.toThrow();
    }
  });
});

describe("extractBearerJwt", () => {
  const of = (authorization?: string) => extractBearerJwt(new Headers(authorization === undefined ? {} : { authorization }));

  it("takes three base64url parts, the last possibly empty", () => {
    expect(of("Bearer aA0_-.bB1_-.cC2_-")).toBe("aA0_-.bB1_-.cC2_-");
    expect(of("Bearer a.b.")).toBe("a.b.");
  });

  it("leaves everything else to other authenticators", () => {
    for (const value of [undefined, "Bearer ", "Basic a.b.c", "Bearer a.b", "Bearer .b.c", "Bearer a..c", "Bearer a.b.c.d", "Bearer a+b.c.d", "Bearer a.b.c=", "Bearer pbrt_a.b.c", "Bearer pbgt_a.b.c", "Bearer xa.b.c!"]) {
      expect(of(value)).toBeUndefined();
    }
  });
});

describe("verification", () => {
  it("accepts a valid token: subject, no roles or name unless configured, expiry with the tolerance", async () => {
    const exp = nowSec() + 300;
    const token = await sign({ roles: ["reader"], plugin: "kv" }, (j) => j.setExpirationTime(exp));
    expect(await createJwtAuthenticator(base())(bearer(token))).toEqual({
      kind: "external",
      subject: `jwt:${ISSUER}#alice`,
      method: "jwt",
      roles: [],
      expiresAt: (exp + 30) * 1000,
    });
    const strict = await createJwtAuthenticator(base({ clockToleranceSec: 0 }))(bearer(token));
    expect(strict?.expiresAt).toBe(exp * 1000);
  });

  it("fetches the JWKS once for many tokens, and every time with no cache age", async () => {
    const auth = createJwtAuthenticator(base());
    const before = jwks.fetches;
    for (let i = 0; i < 3; i++) await auth(bearer(await sign()));
    expect(jwks.fetches).toBe(before + 1);
    const uncached = createJwtAuthenticator(base({ cacheMaxAgeMs: 0 }));
    for (let i = 0; i < 2; i++) await uncached(bearer(await sign()));
    expect(jwks.fetches).toBe(before + 3);
  });

  it("refuses a token over the size limit by its byte length, before any fetch", async () => {
    const token = await sign();
    const before = jwks.fetches;
    const err = await refusal(createJwtAuthenticator(base({ maxTokenBytes: token.length - 1 }))(bearer(token)));
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.rawMessage).toBe("JWT: token is too large");
    expect(jwks.fetches).toBe(before);
    expect(await createJwtAuthenticator(base({ maxTokenBytes: token.length }))(bearer(token))).toBeDefined();
  });

  it("refuses a header that is not JSON, and an alg that is not a string, before any fetch", async () => {
    const auth = createJwtAuthenticator(base());
    const before = jwks.fetches;
    const garbage = await refusal(auth(bearer("abc.def.ghi")));
    expect(garbage.rawMessage).toBe("JWT: token header is malformed");
    expect(garbage.code).toBe(Code.Unauthenticated);
    const numeric = await refusal(auth(bearer(`${b64url({ alg: 256 })}.${b64url({ sub: "a" })}.sig`)));
    expect(numeric.rawMessage).toBe("JWT: token algorithm is not allowed");
    const none = await refusal(auth(bearer(`${b64url({ alg: "none" })}.${b64url({ sub: "a" })}.`)));
    expect(none.rawMessage).toBe("JWT: token algorithm is not allowed");
    expect(jwks.fetches).toBe(before);
  });

  it("accepts any configured issuer and audience, and no look-alike", async () => {
    const auth = createJwtAuthenticator(base({ issuer: ["https://other.test", ISSUER], audience: ["x", AUDIENCE] }));
    expect(await auth(bearer(await sign()))).toMatchObject({ subject: `jwt:${ISSUER}#alice` });
    for (const edit of [(j: SignJWT) => j.setIssuer(`${ISSUER}/`), (j: SignJWT) => j.setIssuer("https://idp.test.evil"), (j: SignJWT) => j.setAudience("plugboard2")]) {
      const err = await refusal(auth(bearer(await sign({}, edit))));
      expect(err.code).toBe(Code.Unauthenticated);
      expect(err.rawMessage).toMatch(/^JWT: token claim "(iss|aud)" is not accepted$/);
    }
  });

  it("names each expired, early, missing or refused claim", async () => {
    const auth = createJwtAuthenticator(base({ clockToleranceSec: 0 }));
    const expired = await sign({}, (j) => j.setIssuedAt(nowSec() - 600).setExpirationTime(nowSec() - 60));
    expect((await refusal(auth(bearer(expired)))).rawMessage).toBe("JWT: token has expired");
    const early = await sign({}, (j) => j.setNotBefore(nowSec() + 120));
    expect((await refusal(auth(bearer(early)))).rawMessage).toBe("JWT: token is not yet valid (nbf)");
    const noSub = await new SignJWT({}).setProtectedHeader({ alg: "ES256", kid: "k1" }).setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime("5m").sign(privateKey);
    expect((await refusal(auth(bearer(noSub)))).rawMessage).toBe('JWT: token claim "sub" is missing');
    const noIss = await new SignJWT({}).setProtectedHeader({ alg: "ES256", kid: "k1" }).setSubject("a").setAudience(AUDIENCE).setExpirationTime("5m").sign(privateKey);
    expect((await refusal(auth(bearer(noIss)))).rawMessage).toBe('JWT: token claim "iss" is missing');
    const emptySub = await sign({}, (j) => j.setSubject(""));
    const err = await refusal(auth(bearer(emptySub)));
    expect(err.rawMessage).toBe('JWT: token claim "sub" is missing');
    expect(err.code).toBe(Code.Unauthenticated);
  });

  it("refuses a sub or jti that is not a string", async () => {
    const auth = createJwtAuthenticator(base({ requireJti: true }));
    const numericSub = await new SignJWT({ sub: 5 as never, jti: "j" }).setProtectedHeader({ alg: "ES256", kid: "k1" }).setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime("5m").sign(privateKey);
    expect((await refusal(auth(bearer(numericSub)))).rawMessage).toBe('JWT: token claim "sub" is missing');
    const numericJti = await new SignJWT({ jti: 5 as never }).setProtectedHeader({ alg: "ES256", kid: "k1" }).setIssuer(ISSUER).setAudience(AUDIENCE).setSubject("a").setExpirationTime("5m").sign(privateKey);
    expect((await refusal(auth(bearer(numericJti)))).rawMessage).toBe('JWT: token claim "jti" is missing');
  });

  it("accepts a token expired within the default 30 s tolerance", async () => {
    const token = await sign({}, (j) => j.setIssuedAt(nowSec() - 600).setExpirationTime(nowSec() - 10));
    expect(await createJwtAuthenticator(base())(bearer(token))).toBeDefined();
  });

  it("maps each signature and key failure to its message", async () => {
    const auth = createJwtAuthenticator(base());
    const token = await sign();
    const [h, p, s] = token.split(".");
    const tampered = `${h}.${p}.${s!.startsWith("A") ? "B" : "A"}${s!.slice(1)}`;
    expect((await refusal(auth(bearer(tampered)))).rawMessage).toBe("JWT: token signature is invalid");
    const unknownKid = await jwt({}, { kid: "nope" }).sign(privateKey);
    expect((await refusal(auth(bearer(unknownKid)))).rawMessage).toBe("JWT: no key in the issuer's JWKS matches the token");
    const crit = await signRaw({ alg: "ES256", kid: "k1", crit: ["x-ext"], "x-ext": 1 }, { iss: ISSUER, aud: AUDIENCE, sub: "a", exp: nowSec() + 60 });
    expect((await refusal(auth(bearer(crit)))).rawMessage).toBe("JWT: token algorithm or key type is not supported");
    const notJson = await new CompactSign(new TextEncoder().encode("not json")).setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(privateKey);
    expect((await refusal(auth(bearer(notJson)))).rawMessage).toBe("JWT: token is malformed");
  });

  it("refuses when several JWKS keys match the token", async () => {
    jwks.keys = [publicJwk, { ...publicJwk }];
    try {
      const err = await refusal(createJwtAuthenticator(base())(bearer(await sign())));
      expect(err.code).toBe(Code.Unauthenticated);
      expect(err.rawMessage).toBe("JWT: several JWKS keys match the token");
    } finally {
      jwks.keys = [publicJwk];
    }
  });

  it("refuses an algorithm outside the configured list even if the JWKS has its key", async () => {
    const err = await refusal(createJwtAuthenticator(base({ algorithms: ["RS256"] }))(bearer(await sign())));
    expect(err.rawMessage).toBe("JWT: token algorithm is not allowed");
    expect(await createJwtAuthenticator(base({ algorithms: ["RS256", "ES256"] }))(bearer(await sign()))).toBeDefined();
  });

  it("answers Unavailable, naming no token, when the JWKS answers badly or too slowly", async () => {
    jwks.status = 500;
    try {
      const err = await refusal(createJwtAuthenticator(base())(bearer(await sign())));
      expect(err.code).toBe(Code.Unavailable);
      expect(err.rawMessage).toBe("JWT: the issuer's JWKS could not be fetched");
    } finally {
      jwks.status = 200;
    }
    // The JWKS answers after 3 s; with a 100 ms timeout the authenticator has given up by then.
    let release!: () => void;
    jwks.hold = new Promise<void>((r) => (release = r));
    const timer = setTimeout(() => release(), 3_000);
    try {
      const err = await refusal(createJwtAuthenticator(base({ timeoutMs: 100 }))(bearer(await sign())));
      expect(err.code).toBe(Code.Unavailable);
    } finally {
      clearTimeout(timer);
      release();
      delete jwks.hold;
    }
  });
});

describe("claims", () => {
  const rolesOf = async (rolesClaim: string, claims: Record<string, unknown>) =>
    (await createJwtAuthenticator(base({ rolesClaim }))(bearer(await sign(claims))))?.roles;

  it("reads roles from an array or a space-separated string, dropping empty and non-string entries", async () => {
    expect(await rolesOf("roles", { roles: ["a", "", 3, "b"] })).toEqual(["a", "b"]);
    expect(await rolesOf("roles", { roles: " a  b " })).toEqual(["a", "b"]);
    expect(await rolesOf("realm_access.roles", { realm_access: { roles: ["ops"] } })).toEqual(["ops"]);
  });

  it("finds no roles where the path does not lead to them", async () => {
    expect(await rolesOf("roles", {})).toEqual([]);
    expect(await rolesOf("roles", { roles: 7 })).toEqual([]);
    expect(await rolesOf("roles", { roles: { a: "b" } })).toEqual([]);
    expect(await rolesOf("a.roles", { a: "roles" })).toEqual([]);
    expect(await rolesOf("a.roles", { a: null })).toEqual([]);
    expect(await rolesOf("a.roles", { a: ["x"] })).toEqual([]);
    // Inherited properties are not claims.
    expect(await rolesOf("constructor.name", {})).toEqual([]);
    expect(await rolesOf("a.toString", { a: {} })).toEqual([]);
  });

  it("proves a plugin name only from a non-empty string claim", async () => {
    const nameOf = async (claims: Record<string, unknown>, pluginNameClaim = "plugboard.plugin") =>
      createJwtAuthenticator(base({ pluginNameClaim }))(bearer(await sign(claims)));
    expect(await nameOf({ plugboard: { plugin: "kv" } })).toMatchObject({ provesPluginName: "kv" });
    expect(await nameOf({ plugin: "kv" }, "plugin")).toMatchObject({ provesPluginName: "kv" });
    // A string is not walked into: "plugin.0" of "kv" is no claim, not "k".
    expect(await nameOf({ plugin: "kv" }, "plugin.0")).not.toHaveProperty("provesPluginName");
    for (const claims of [{}, { plugboard: { plugin: "" } }, { plugboard: { plugin: 7 } }, { plugboard: "kv" }]) {
      expect(await nameOf(claims)).not.toHaveProperty("provesPluginName");
    }
  });

  it("requires a jti when asked, without a replay cache", async () => {
    const auth = createJwtAuthenticator(base({ requireJti: true }));
    expect((await refusal(auth(bearer(await sign())))).rawMessage).toBe('JWT: token claim "jti" is missing');
    const empty = await refusal(auth(bearer(await sign({}, (j) => j.setJti("")))));
    expect(empty.rawMessage).toBe('JWT: token claim "jti" is missing');
    expect(empty.code).toBe(Code.Unauthenticated);
    const token = await sign({}, (j) => j.setJti("j1"));
    expect(await auth(bearer(token))).toBeDefined();
    expect(await auth(bearer(token))).toBeDefined();
    // Not required: no jti is fine, and no replay cache refuses a reused one.
    const lax = createJwtAuthenticator(base({ requireJti: false }));
    expect(await lax(bearer(await sign()))).toBeDefined();
    expect(await lax(bearer(token))).toBeDefined();
  });

  it("remembers a jti until the token's expiry plus the tolerance, even for a token about to expire", async () => {
    const auth = createJwtAuthenticator(base({ replayCache: true }));
    const token = await sign({}, (j) => j.setJti("short").setExpirationTime(nowSec() + 10));
    expect(await auth(bearer(token))).toBeDefined();
    expect((await refusal(auth(bearer(token)))).rawMessage).toBe("JWT: token has already been used (jti replay)");
  });

  it("keys replays by issuer and jti, and answers Unavailable when the replay cache is full", async () => {
    const auth = createJwtAuthenticator(base({ replayCache: true, replayCacheMaxEntries: 1, issuer: [ISSUER, "https://b.test"] }));
    expect(await auth(bearer(await sign({}, (j) => j.setJti("j1"))))).toBeDefined();
    // Same jti from another issuer: another token, but the one-entry cache is full.
    const full = await refusal(auth(bearer(await sign({}, (j) => j.setJti("j1").setIssuer("https://b.test")))));
    expect(full.code).toBe(Code.Unavailable);
    expect(full.rawMessage).toBe("JWT: replay cache is full, try again later");
    const two = createJwtAuthenticator(base({ replayCache: true, issuer: [ISSUER, "https://b.test"] }));
    expect(await two(bearer(await sign({}, (j) => j.setJti("j1"))))).toBeDefined();
    expect(await two(bearer(await sign({}, (j) => j.setJti("j1").setIssuer("https://b.test"))))).toBeDefined();
    const replayed = await refusal(two(bearer(await sign({}, (j) => j.setJti("j1")))));
    expect(replayed.rawMessage).toBe("JWT: token has already been used (jti replay)");
    expect(replayed.code).toBe(Code.Unauthenticated);
  });
});
