/**
 * Launch secrets: one use, for the plugin name they were issued to, until they expire; checking spends
 * nothing. Written against `npm run mutate -- handshake` (docs/testing.md).
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createLaunchSecrets } from "../../../src/handshake/launch-secrets.js";

const clock = () => {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
};

describe("launch secrets", () => {
  it("are pbls_ and 32 random bytes in base64url, different each time", () => {
    const secrets = createLaunchSecrets();
    const a = secrets.issue("kv");
    const b = secrets.issue("kv");
    expect(a).toMatch(/^pbls_[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
  });

  it("draw their bytes from the given random source", () => {
    const secrets = createLaunchSecrets(() => Buffer.alloc(32, 7));
    expect(secrets.issue("kv")).toBe("pbls_" + Buffer.alloc(32, 7).toString("base64url"));
  });

  it("check says valid, other-plugin or unknown, and spends nothing", () => {
    const secrets = createLaunchSecrets();
    const s = secrets.issue("kv");
    expect(secrets.check("kv", s)).toBe("valid");
    expect(secrets.check("kv", s)).toBe("valid");
    expect(secrets.check("billing", s)).toBe("other-plugin");
    expect(secrets.check("kv", s + "x")).toBe("unknown");
    expect(secrets.check("kv", "pbls_" + randomBytes(32).toString("base64url"))).toBe("unknown");
  });

  it("are spent once, and only by the plugin they were issued to", () => {
    const secrets = createLaunchSecrets();
    const s = secrets.issue("kv");
    expect(secrets.consume("billing", s)).toBe(false);
    // Presented under another name, the secret stays with its owner.
    expect(secrets.check("kv", s)).toBe("valid");
    expect(secrets.consume("kv", s)).toBe(true);
    expect(secrets.consume("kv", s)).toBe(false);
    expect(secrets.check("kv", s)).toBe("unknown");
    expect(secrets.consume("kv", "pbls_never-issued")).toBe(false);
  });

  it("live five minutes by default: valid until the last millisecond, unknown from then on", () => {
    const c = clock();
    const secrets = createLaunchSecrets(randomBytes, c.now);
    const s = secrets.issue("kv");
    c.advance(5 * 60_000 - 1);
    expect(secrets.check("kv", s)).toBe("valid");
    c.advance(1);
    expect(secrets.check("kv", s)).toBe("unknown");
    expect(secrets.consume("kv", s)).toBe(false);
  });

  it("live for the TTL they were issued with", () => {
    const c = clock();
    const secrets = createLaunchSecrets(randomBytes, c.now);
    const s = secrets.issue("kv", 1_000);
    c.advance(999);
    expect(secrets.consume("kv", s)).toBe(true);
    const t = secrets.issue("kv", 1_000);
    c.advance(1_000);
    expect(secrets.consume("kv", t)).toBe(false);
  });

  it("expired secrets are dropped when the next one is issued; live ones are kept", () => {
    const c = clock();
    // Issuing prunes expired entries: the live ones must survive it.
    const secrets = createLaunchSecrets(randomBytes, c.now);
    const old = secrets.issue("kv", 1_000);
    const keep = secrets.issue("kv", 10_000);
    c.advance(1_000);
    secrets.issue("kv");
    expect(secrets.check("kv", old)).toBe("unknown");
    expect(secrets.check("kv", keep)).toBe("valid");
  });
});
