import type { CredentialRecord, RegistrationRecord, RuntimeRecord } from "../../src/store/index.js";

export function runtimeRecord(runtimeId: string, overrides: Partial<RuntimeRecord> = {}): RuntimeRecord {
  const now = Date.now();
  return {
    runtimeId,
    pluginName: `plugin-${runtimeId}`,
    pluginVersion: "1.2.3",
    provides: [{ type: "kv.v1.Store", version: "1.0.0" }],
    requires: [{ type: "hostlog.v1.Log", versionRange: "^1", optional: true }],
    capabilities: ["hostlog.v1.Log"],
    secrets: [],
    baseUrl: "http://127.0.0.1:9",
    appProtocolVersion: "1",
    callerSigningKey: "c2lnbmluZy1rZXk=",
    health: 1,
    healthMessage: "",
    healthReportedAt: now,
    startedAt: now,
    expiresAt: now + 60_000,
    ...overrides,
  };
}

export function registrationRecord(
  registrationId: string,
  runtimeId: string,
  overrides: Partial<RegistrationRecord> = {},
): RegistrationRecord {
  return {
    registrationId,
    serviceType: "kv.v1.Store",
    version: "1.0.0",
    runtimeId,
    pluginName: `plugin-${runtimeId}`,
    endpoint: "http://127.0.0.1:9/kv",
    metadata: { zone: "a" },
    weight: 1,
    health: 1,
    ...overrides,
  };
}

export function credentialRecord(id: string, runtimeId: string, overrides: Partial<CredentialRecord> = {}): CredentialRecord {
  return { kind: "runtime", id, runtimeId, expiresAt: Date.now() + 60_000, ...overrides };
}

/** A hex SHA-256-shaped digest, unique per label. */
export function digestOf(label: string): string {
  return Buffer.from(label.padEnd(32, "#").slice(0, 32)).toString("hex");
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * An expiry a test checks on both sides without racing it on a loaded machine: a read that ended before
 * `at` must still have seen the record (`before()`), and `passed()` resolves once the wall clock is past it.
 */
export function shortExpiry(ms = 400): { at: number; before(): boolean; passed(): Promise<void> } {
  const at = Date.now() + ms;
  return { at, before: () => Date.now() < at, passed: () => sleep(Math.max(0, at - Date.now()) + 5) };
}

/** Polls until `check` stops throwing (events from other hosts arrive asynchronously). */
export async function eventually(check: () => void, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(20);
    }
  }
}
