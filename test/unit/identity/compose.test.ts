/**
 * How a request's credentials become one identity: the bearer header's shape, the runtime token
 * authenticator, the composition of every authenticator (a bound runtime must prove its certificate
 * again) and the interceptor that refuses non-public methods without a credential.
 * Written against the survivors of `npm run mutate -- identity` (docs/testing.md).
 */
import type { X509Certificate } from "node:crypto";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import { describe, expect, it, vi } from "vitest";
import { bearerToken } from "../../../src/identity/bearer.js";
import { composeAuthenticators, requireIdentity } from "../../../src/identity/compose.js";
import { identityKey, policySubject, type Authenticator, type Identity } from "../../../src/identity/identity.js";
import { createIdentityInterceptor, peerCertificateKey } from "../../../src/identity/interceptor.js";
import { createTokenAuthenticator } from "../../../src/identity/token-authenticator.js";
import { createDevCa } from "../../../src/identity/certs.js";
import { createMemoryStore } from "../../../src/store/memory.js";
import { createTokenService } from "../../../src/tokens/tokens.js";
import { runtimeRecord } from "../../store/fixtures.js";

const headers = (authorization?: string) => new Headers(authorization === undefined ? {} : { authorization });

async function refusal(p: Promise<unknown>): Promise<ConnectError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ConnectError);
  return err as ConnectError;
}

describe("bearerToken", () => {
  it("is undefined without an authorization header", () => {
    expect(bearerToken(headers())).toBeUndefined();
  });

  it.each([
    ["Bearer abc", "abc"],
    ["Bearer a", "a"],
    ["bearer abc", "abc"],
    ["BEARER abc", "abc"],
    ["Bearer   abc", "abc"],
    ["Bearer abc   ", "abc"],
    ["Bearer abc\t", "abc"],
    // Headers trims only HTTP whitespace; other trailing whitespace is still not part of the token.
    ["Bearer abc\u000b", "abc"],
    ["Bearer abc\u00a0", "abc"],
    ["Bearer pbrt_x.y-z", "pbrt_x.y-z"],
  ])("reads %j as %j", (value, token) => {
    expect(bearerToken(headers(value))).toBe(token);
  });

  it.each(["Bearer", "Bearer ", "Bearerabc", "Bearer\tabc", "Bearer a b", "Basic abc", "xBearer abc", "Bearer abc x"])(
    "reads %j as an empty (bad) token, not as no credential",
    (value) => {
      expect(bearerToken(headers(value))).toBe("");
    },
  );
});

const runtimeIdentity = (overrides: Partial<Identity> = {}): Identity => ({
  kind: "runtime",
  subject: "runtime:rt_1",
  method: "token",
  runtimeId: "rt_1",
  roles: ["plugin"],
  ...overrides,
});
const external = (subject: string, overrides: Partial<Identity> = {}): Identity => ({
  kind: "external",
  subject,
  method: "mtls",
  roles: [],
  ...overrides,
});
const fixed = (identity: Identity | undefined): Authenticator => async () => identity;
const source = { headers: headers() };

describe("composeAuthenticators", () => {
  it("is undefined when no authenticator finds a credential", async () => {
    expect(await composeAuthenticators([])(source)).toBeUndefined();
    expect(await composeAuthenticators([fixed(undefined), fixed(undefined)])(source)).toBeUndefined();
  });

  it("takes the first external identity found, after methods that found nothing", async () => {
    const a = external("spiffe://td/a");
    const b = external("jwt:iss#b", { method: "jwt" });
    expect(await composeAuthenticators([fixed(undefined), fixed(a), fixed(b)])(source)).toBe(a);
  });

  it("prefers a runtime identity to an external one listed before it", async () => {
    const rt = runtimeIdentity();
    expect(await composeAuthenticators([fixed(external("spiffe://td/a")), fixed(rt)])(source)).toBe(rt);
  });

  it("never passes over a bad credential: the refusal of any method is the answer", async () => {
    const bad: Authenticator = async () => {
      throw new ConnectError("bad", Code.Unauthenticated);
    };
    const err = await refusal(composeAuthenticators([fixed(runtimeIdentity()), bad])(source));
    expect(err.message).toBe("[unauthenticated] bad");
  });

  it("refuses a certificate-bound runtime token without that certificate", async () => {
    const rt = runtimeIdentity({ boundSubject: "spiffe://td/plugin/kv", boundMethod: "mtls" });
    for (const others of [[], [external("spiffe://td/plugin/other")], [external("spiffe://td/plugin/kv", { kind: "runtime" })]]) {
      const err = await refusal(composeAuthenticators([fixed(rt), ...others.map(fixed)])(source));
      expect(err.code).toBe(Code.Unauthenticated);
      expect(err.rawMessage).toBe("runtime token is bound to another client identity; present the credential it was issued to");
    }
  });

  it("refuses a bound runtime whose own subject is the bound one: only an external identity proves it", async () => {
    const rt = runtimeIdentity({ subject: "spiffe://td/plugin/kv", boundSubject: "spiffe://td/plugin/kv", boundMethod: "mtls" });
    await refusal(composeAuthenticators([fixed(rt)])(source));
  });

  it("accepts a bound runtime with its certificate: roles merged once, the certificate's expiry kept", async () => {
    const rt = runtimeIdentity({ roles: ["plugin", "reader"], boundSubject: "spiffe://td/plugin/kv", boundMethod: "mtls" });
    const cert = external("spiffe://td/plugin/kv", { roles: ["reader", "writer"], expiresAt: 1234 });
    const got = await composeAuthenticators([fixed(cert), fixed(external("other")), fixed(rt)])(source);
    expect(got).toEqual({ ...rt, roles: ["plugin", "reader", "writer"], expiresAt: 1234 });
  });

  it("keeps the runtime's roles and sets no expiry when the certificate brings neither", async () => {
    const rt = runtimeIdentity({ boundSubject: "spiffe://td/plugin/kv", boundMethod: "mtls" });
    const got = await composeAuthenticators([fixed(rt), fixed(external("spiffe://td/plugin/kv"))])(source);
    expect(got?.roles).toBe(rt.roles);
    expect(got).not.toHaveProperty("expiresAt");
    expect(got).toEqual(rt);
  });

  it("lets a JWT-bound runtime call with its token alone", async () => {
    const rt = runtimeIdentity({ boundSubject: "jwt:https://idp#alice", boundMethod: "jwt" });
    expect(await composeAuthenticators([fixed(rt)])(source)).toBe(rt);
  });

  it("requireIdentity refuses a request without a credential and passes an identity through", async () => {
    const err = await refusal(requireIdentity(composeAuthenticators([]), source));
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.rawMessage).toBe("missing credential: send authorization: Bearer <runtime token>");
    const rt = runtimeIdentity();
    expect(await requireIdentity(composeAuthenticators([fixed(rt)]), source)).toBe(rt);
  });
});

describe("policySubject", () => {
  it("judges a bound runtime by its bound subject and a proven name only", () => {
    expect(policySubject(runtimeIdentity({ boundSubject: "spiffe://td/x", pluginName: "kv", nameProof: "mtls" }))).toEqual({
      subject: "spiffe://td/x",
      pluginName: "kv",
      roles: ["plugin"],
    });
    const unproven = policySubject(runtimeIdentity({ pluginName: "kv", nameProof: "unproven" }));
    expect(unproven).toEqual({ subject: "runtime:rt_1", roles: ["plugin"] });
    expect(unproven).not.toHaveProperty("pluginName");
  });
});

describe("createIdentityInterceptor", () => {
  const call = async (
    publicMethods: string[],
    resolve: (s: { headers: Headers; peerCertificate?: X509Certificate }) => Promise<Identity | undefined>,
    cert?: X509Certificate,
  ) => {
    const contextValues = createContextValues();
    if (cert) contextValues.set(peerCertificateKey, cert);
    const req = { header: headers("Bearer x"), contextValues, service: { typeName: "pkg.v1.Svc" }, method: { name: "Do" } };
    const next = vi.fn(async (r: typeof req) => r.contextValues.get(identityKey));
    const interceptor = createIdentityInterceptor({ resolve, publicMethods: new Set(publicMethods) });
    const result = await (interceptor(next as never) as unknown as (r: typeof req) => Promise<Identity | undefined>)(req);
    return { result, next };
  };

  it("refuses a non-public method without a credential and never calls the handler", async () => {
    for (const pub of [[], ["/pkg.v1.Svc/Other"], ["pkg.v1.Other/*"], ["pkg.v1.Svc/Do"], ["/pkg.v1.Svc/*"]]) {
      const err = await refusal(call(pub, async () => undefined));
      expect(err.code).toBe(Code.Unauthenticated);
    }
  });

  it("lets a public method (exact or service-wide) through without a credential", async () => {
    for (const pub of [["/pkg.v1.Svc/Do"], ["pkg.v1.Svc/*"]]) {
      const { result, next } = await call(pub, async () => undefined);
      expect(next).toHaveBeenCalledOnce();
      expect(result).toBeUndefined();
    }
  });

  it("still checks a credential sent to a public method, and sets the identity for the handler", async () => {
    const rt = runtimeIdentity();
    const { result } = await call(["pkg.v1.Svc/*"], async (s) => (s.headers.get("authorization") === "Bearer x" ? rt : undefined));
    expect(result).toBe(rt);
    await refusal(
      call(["pkg.v1.Svc/*"], async () => {
        throw new ConnectError("bad", Code.Unauthenticated);
      }),
    );
  });

  it("passes the verified peer certificate to the authenticators only when there is one", async () => {
    const seen: object[] = [];
    const resolve = async (s: object) => (seen.push(s), runtimeIdentity());
    const cert = (await createDevCa({ commonName: "test CA" })).certificate;
    await call([], resolve, cert);
    await call([], resolve);
    expect((seen[0] as { peerCertificate: X509Certificate }).peerCertificate).toBe(cert);
    expect(seen[1]).not.toHaveProperty("peerCertificate");
  });
});

describe("createTokenAuthenticator", () => {
  const setup = async (rolesFor?: (name: string, subject: string) => readonly string[]) => {
    const store = createMemoryStore();
    const tokens = createTokenService({ store });
    const authenticate = createTokenAuthenticator({ tokens, store, ...(rolesFor ? { rolesFor } : {}) });
    return { store, tokens, authenticate };
  };

  it("ignores requests without a runtime token", async () => {
    const { tokens, store, authenticate } = await setup();
    await store.putRuntime(runtimeRecord("rt_1"));
    const grant = await tokens.issue("grant", "rt_1", 60_000);
    for (const value of [undefined, `Bearer ${grant.token}`, "Bearer eyJ.eyJ.sig", "Bearer "]) {
      expect(await authenticate({ headers: headers(value) })).toBeUndefined();
    }
  });

  it("refuses an unknown, revoked or orphaned runtime token without echoing it", async () => {
    const { tokens, store, authenticate } = await setup();
    await store.putRuntime(runtimeRecord("rt_1"));
    const live = await tokens.issue("runtime", "rt_1", 60_000);
    const orphan = await tokens.issue("runtime", "rt_gone", 60_000);
    const revoked = await tokens.issue("runtime", "rt_1", 60_000);
    await tokens.revokeById(revoked.id);
    for (const token of ["pbrt_unknown", orphan.token, revoked.token]) {
      const err = await refusal(authenticate({ headers: headers(`Bearer ${token}`) }));
      expect(err.code).toBe(Code.Unauthenticated);
      expect(err.rawMessage).toBe("runtime token is invalid, expired or revoked");
      expect(err.message).not.toContain(token);
    }
    expect(await authenticate({ headers: headers(`Bearer ${live.token}`) })).toBeDefined();
  });

  it("proves the runtime identity, with an unproven name earning no roles", async () => {
    const rolesFor = vi.fn(() => ["admin"]);
    const { tokens, store, authenticate } = await setup(rolesFor);
    const record = runtimeRecord("rt_1", { pluginName: "kv" });
    delete record.nameProof;
    await store.putRuntime(record);
    const { token, id } = await tokens.issue("runtime", "rt_1", 60_000);
    const identity = await authenticate({ headers: headers(`Bearer ${token}`) });
    expect(identity).toEqual({
      kind: "runtime",
      subject: "runtime:rt_1",
      method: "token",
      runtimeId: "rt_1",
      pluginName: "kv",
      nameProof: "unproven",
      roles: [],
      credentialId: id,
    });
    expect(identity).not.toHaveProperty("boundSubject");
    expect(identity).not.toHaveProperty("boundMethod");
    expect(rolesFor).not.toHaveBeenCalled();
  });

  it("gives a proven name its roles, asked for the bound subject when there is one", async () => {
    const rolesFor = vi.fn((name: string, subject: string) => [`${name}@${subject}`]);
    const { tokens, store, authenticate } = await setup(rolesFor);
    await store.putRuntime(runtimeRecord("rt_1", { pluginName: "kv", nameProof: "launch_secret" }));
    await store.putRuntime(
      runtimeRecord("rt_2", { pluginName: "db", nameProof: "mtls", boundSubject: "spiffe://td/plugin/db", boundMethod: "mtls" }),
    );
    const one = await tokens.issue("runtime", "rt_1", 60_000);
    const two = await tokens.issue("runtime", "rt_2", 60_000);
    expect(await authenticate({ headers: headers(`Bearer ${one.token}`) })).toMatchObject({ nameProof: "launch_secret", roles: ["kv@runtime:rt_1"] });
    expect(await authenticate({ headers: headers(`Bearer ${two.token}`) })).toMatchObject({
      roles: ["db@spiffe://td/plugin/db"],
      boundSubject: "spiffe://td/plugin/db",
      boundMethod: "mtls",
    });
  });

  it("gives no roles without a roles callback", async () => {
    const { tokens, store, authenticate } = await setup();
    await store.putRuntime(runtimeRecord("rt_1", { pluginName: "kv", nameProof: "launch_secret" }));
    const { token } = await tokens.issue("runtime", "rt_1", 60_000);
    expect((await authenticate({ headers: headers(`Bearer ${token}`) }))?.roles).toEqual([]);
  });
});
