import type { CredentialRecord, HealthValue, RegistrationRecord, RemovalCause, RuntimeRecord, StoreEvent } from "./types.js";

/**
 * How records live in Redis. Fields a script changes in place (health, expiry) sit
 * beside the JSON so Lua never has to decode or re-encode JSON.
 */

export function encodeRuntime(runtime: RuntimeRecord): string {
  return JSON.stringify(runtime);
}

/** `fields` = HMGET rec health healthMessage healthReportedAt expiresAt */
export function decodeRuntime(fields: Array<string | null>): RuntimeRecord | undefined {
  const [rec, health, healthMessage, healthReportedAt, expiresAt] = fields;
  if (!rec) return undefined;
  const runtime = JSON.parse(rec) as RuntimeRecord;
  runtime.health = Number(health) as HealthValue;
  runtime.healthMessage = healthMessage ?? "";
  runtime.healthReportedAt = Number(healthReportedAt);
  runtime.expiresAt = Number(expiresAt);
  return runtime;
}
export const RUNTIME_FIELDS = ["rec", "health", "healthMessage", "healthReportedAt", "expiresAt"] as const;

export function decodeCredential(rec: string | null): CredentialRecord | undefined {
  return rec ? (JSON.parse(rec) as CredentialRecord) : undefined;
}

/** `rec` is the JSON written at put time; `health` the current value kept beside it. */
export function decodeRegistration(rec: string | null | undefined, health: string | null | undefined) {
  if (!rec) return undefined;
  const registration = JSON.parse(rec) as RegistrationRecord;
  if (health) registration.health = Number(health) as HealthValue;
  return registration;
}

/** A script's event tuple or a stream entry's fields, as one shape. */
export interface RawEvent {
  type: string;
  cause: string;
  rec: string;
  health: string;
}

export function decodeEvent(raw: RawEvent): StoreEvent | undefined {
  if (raw.type !== "removed" && raw.type !== "added" && raw.type !== "updated") return undefined;
  const registration = decodeRegistration(raw.rec, raw.health);
  if (!registration) return undefined;
  if (raw.type === "removed") return { type: "removed", registration, cause: raw.cause as RemovalCause };
  if (raw.type === "added" || raw.type === "updated") return { type: raw.type, registration };
  return undefined;
}

/** Script reply tuple {streamId, type, cause, rec, health, …} from bucket `stream`'s script → its stream entry and event. */
export function eventFromScript(stream: number, tuple: unknown): { stream: number; id: string; event: StoreEvent } | undefined {
  if (!Array.isArray(tuple) || tuple.length < 5) return undefined;
  const [id, type, cause, rec, health] = tuple.slice(0, 5).map(String);
  const event = decodeEvent({ type: type!, cause: cause!, rec: rec!, health: health! });
  return event && { stream, id: id!, event };
}

/** A registration as kept in its runtime's `rt-regs` hash: health digit, then the JSON. */
export function decodeStoredRegistration(value: string | null | undefined): RegistrationRecord | undefined {
  return value ? decodeRegistration(value.slice(1), value.slice(0, 1)) : undefined;
}

/** Stream entry fields [k1, v1, k2, v2, ...] → origin + event. */
export function rawFromStream(fields: string[]): { origin: string; raw: RawEvent } {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
  return {
    origin: map.get("o") ?? "",
    raw: { type: map.get("t") ?? "", cause: map.get("c") ?? "", rec: map.get("r") ?? "", health: map.get("h") ?? "" },
  };
}
