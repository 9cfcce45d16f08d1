/**
 * Secret comparisons are constant-time by construction, checked deterministically (no clock): every
 * comparison of a presented secret goes through crypto.timingSafeEqual on equal-length values
 * (SHA-256 digests or fixed-length MACs), whatever the presented value's length or shared prefix.
 * A positive control proves the check fails for an early-exit or length-revealing comparison.
 * The statistical timing measurement lives in `npm run bench` (bench/secret-compare-timing.ts).
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createAdminCredential } from "../../src/ops/admin-credential.js";
import { signCallerHeader, verifyCallerHeader } from "../../src/protocol/caller-header.js";
import { createMemoryStore } from "../../src/store/memory.js";
import type { Store } from "../../src/store/types.js";
import { secretsEqual } from "../../src/tokens/secret-compare.js";
import { createTokenService } from "../../src/tokens/tokens.js";
import { COOKIE, startTestHost, type TestHost } from "../helpers/host.js";

vi.mock("node:crypto", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:crypto")>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});
const spy = vi.mocked(timingSafeEqual);
const SHA256_BYTES = 32;

/** Buffer lengths of every timingSafeEqual call since the last reset, as [a, b] pairs. */
const comparedLengths = () => spy.mock.calls.map(([a, b]) => [(a as Buffer).length, (b as Buffer).length]);

/** Near misses an early-exit or length-revealing comparison would answer at different speeds. */
function nearMisses(secret: string): string[] {
  const last = secret.endsWith("A") ? "B" : "A";
  return [
    secret.slice(0, -1) + last, // differs only in the last character
    (secret.startsWith("A") ? "B" : "A") + secret.slice(1), // differs in the first
    secret + "x", // longer, with the whole secret as a prefix
    secret.slice(0, -1), // shorter, a prefix of it
    "",
  ];
}

/**
 * The problems with `compare` as a constant-time secret comparison: a wrong answer, or a call that
 * did not reach timingSafeEqual exactly once on two SHA-256 digests.
 */
function constantTimeProblems(compare: (a: string, b: string) => boolean): string[] {
  const secret = randomBytes(48).toString("base64url");
  const problems: string[] = [];
  for (const [guess, want] of [[secret, true] as const, ...nearMisses(secret).map((g) => [g, false] as const)]) {
    spy.mockClear();
    if (compare(guess, secret) !== want) problems.push(`wrong answer for a guess of length ${guess.length}`);
    const lengths = comparedLengths();
    if (lengths.length !== 1 || lengths[0]![0] !== SHA256_BYTES || lengths[0]![1] !== SHA256_BYTES)
      problems.push(`guess of length ${guess.length}: timingSafeEqual calls ${JSON.stringify(lengths)}, want one on two ${SHA256_BYTES}-byte digests`);
  }
  return problems;
}

// (A block body: a function returned from beforeEach would be run as its clean-up.)
beforeEach(() => {
  spy.mockClear();
});

describe("constant-time secret comparison, by construction", () => {
  it("positive control: an early-exit comparison and a raw timingSafeEqual that reveals the length both fail the check", () => {
    const earlyExit = (a: string, b: string) => {
      if (a.length !== b.length) return false;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
      return true;
    };
    const rawLengthFirst = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
    expect(constantTimeProblems(earlyExit).length).toBeGreaterThan(0);
    expect(constantTimeProblems(rawLengthFirst).length).toBeGreaterThan(0);
    expect(constantTimeProblems((a, b) => a === b).length).toBeGreaterThan(0);
  });

  it("secretsEqual compares SHA-256 digests of both sides with timingSafeEqual, for every length and prefix", () => {
    expect(constantTimeProblems(secretsEqual)).toEqual([]);
  });

  it("the admin credential check compares digests with timingSafeEqual, also for near misses", async () => {
    const credential = createAdminCredential();
    const headersOf = (token: string) => ({ headers: new Headers({ authorization: `Bearer ${token}` }) }) as never;
    spy.mockClear();
    await expect(credential.authenticator(headersOf(credential.token))).resolves.toMatchObject({ roles: ["admin"] });
    for (const guess of nearMisses(credential.token).filter((g) => g.startsWith("pbadm_"))) {
      spy.mockClear();
      const refused = await credential.authenticator(headersOf(guess)).then(
        () => "accepted",
        (e: unknown) => ConnectError.from(e).code,
      );
      expect(refused).toBe(Code.Unauthenticated);
      expect(comparedLengths()).toEqual([[SHA256_BYTES, SHA256_BYTES]]);
    }
  });

  it("the caller header's MAC is compared with timingSafeEqual on equal lengths", () => {
    const key = randomBytes(32);
    const now = 1_700_000_000_000;
    const header = signCallerHeader({ subject: "rt_a", method: "runtime-token", path: "/kv.v1.KVService/Get" } as never, key, now);
    expect(verifyCallerHeader(header, key, "/kv.v1.KVService/Get", { now })).toBeDefined();
    const macAt = header.lastIndexOf(".") + 1;
    const mac = header.slice(macAt);
    const forged = header.slice(0, macAt) + mac.slice(0, -1) + (mac.endsWith("A") ? "B" : "A");
    spy.mockClear();
    expect(verifyCallerHeader(forged, key, "/kv.v1.KVService/Get", { now })).toBeUndefined();
    expect(comparedLengths()).toEqual([[mac.length, mac.length]]);
  });

  it("token verification looks a token up only by its SHA-256 digest: the raw token is never compared", async () => {
    const asked: string[] = [];
    const inner = createMemoryStore();
    const store: Store = new Proxy(inner, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (prop !== "getCredential" || typeof value !== "function") return typeof value === "function" ? value.bind(target) : value;
        return (digest: string) => {
          asked.push(digest);
          return (value as Store["getCredential"]).call(target, digest);
        };
      },
    });
    const tokens = createTokenService({ store });
    const { token } = await tokens.issue("runtime", "rt_ct", 60_000);
    for (const guess of [token, ...nearMisses(token).filter((g) => g.startsWith("pbrt_"))]) {
      asked.length = 0;
      const found = await tokens.verify(guess, "runtime");
      expect(found !== undefined).toBe(guess === token);
      expect(asked).toEqual([createHash("sha256").update(guess).digest("hex")]);
    }
  });
});

describe("the magic cookie, over a real handshake", () => {
  let t: TestHost | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it("a cookie value differing only in its last character is refused after a digest comparison", async () => {
    t = await startTestHost();
    const value = COOKIE.value.slice(0, -1) + (COOKIE.value.endsWith("A") ? "B" : "A");
    spy.mockClear();
    const code = await t.handshake({ magicCookieValue: value, unproven: true }).then(
      () => "ok",
      (e: unknown) => ConnectError.from(e).code,
    );
    expect(code).toBe(Code.FailedPrecondition);
    // The key and the value, each as two SHA-256 digests.
    expect(comparedLengths()).toEqual([
      [SHA256_BYTES, SHA256_BYTES],
      [SHA256_BYTES, SHA256_BYTES],
    ]);
  });
});
