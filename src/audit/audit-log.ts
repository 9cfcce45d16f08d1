import { createHmac, randomBytes } from "node:crypto";
import { pino } from "pino";
import type { AuditEvent, AuditSink } from "./audit.js";
import { newRequestId } from "./request-id.js";

/** One line of the audit log. Every field is always present (null when unknown), so records are easy to query. */
export interface AuditRecord {
  /** pino's numeric level: 30 (info) for a success, 40 (warn) for a failure, so level filters work on audit lines too. */
  level: 30 | 40;
  /** Marks the line as an audit record among the host's other log lines. */
  audit: true;
  time: string;
  event: string;
  outcome: AuditEvent["outcome"];
  actor: NonNullable<AuditEvent["actor"]> | null;
  target: string | null;
  reason: string | null;
  requestId: string;
}

export interface AuditLogOptions {
  /** A pino destination (default stdout) or a function receiving each record. */
  destination?: pino.DestinationStream | ((record: AuditRecord) => void);
  /** Key for `hmac(token)` correlation values; default a random per-process key. */
  hmacKey?: Buffer;
  now?: () => number;
}

export interface AuditLog {
  /** The host's audit sink: one record per event. */
  readonly sink: AuditSink;
  /** First 16 hex chars of HMAC-SHA256(key, value): correlates a token across records without revealing it. */
  hmac(value: string): string;
}

/** Anything shaped like a Plugboard token, wherever it shows up in a field. */
const TOKEN_LIKE = /pb[a-z]t_[A-Za-z0-9_-]{8,}/g;

export function createAuditLog(options: AuditLogOptions = {}): AuditLog {
  const key = options.hmacKey ?? randomBytes(32);
  if (key.length < 16) throw new Error("createAuditLog: hmacKey must be at least 16 bytes");
  const now = options.now ?? Date.now;
  const hmac = (value: string) => createHmac("sha256", key).update(value).digest("hex").slice(0, 16);
  // Defence in depth: a token that slipped into a free-text field is replaced by its HMAC.
  const scrub = (text: string | undefined): string | null =>
    text === undefined ? null : text.replace(TOKEN_LIKE, (token) => `hmac:${hmac(token)}`);

  const write = toWriter(options.destination);
  const sink: AuditSink = (event) => {
    const actor = event.actor
      ? Object.fromEntries(Object.entries(event.actor).map(([k, v]) => [k, scrub(v) ?? undefined]))
      : null;
    write({
      level: event.outcome === "failure" ? 40 : 30,
      audit: true,
      time: new Date(now()).toISOString(),
      event: event.event,
      outcome: event.outcome,
      actor: actor as AuditRecord["actor"],
      target: scrub(event.target),
      reason: scrub(event.reason),
      requestId: event.requestId ?? newRequestId(),
    });
  };
  return { sink, hmac };
}

function toWriter(destination: AuditLogOptions["destination"]): (record: AuditRecord) => void {
  if (typeof destination === "function") return destination;
  // Plain JSON lines (no logger levels or pid noise) through pino's fast asynchronous stdout writer by default.
  const stream = destination ?? pino.destination({ dest: 1, sync: false });
  return (record) => stream.write(`${JSON.stringify(record)}\n`);
}
