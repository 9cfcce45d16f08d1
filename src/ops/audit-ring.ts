import type { AuditEvent } from "../audit/audit.js";

export interface RecordedAuditEvent extends AuditEvent {
  /** ms since epoch, when the host recorded it. */
  at: number;
}

/** The most recent audit events, bounded: the dashboard shows them; the audit log keeps everything. */
export interface AuditRing {
  push(event: AuditEvent): void;
  /** Oldest first. */
  list(): RecordedAuditEvent[];
}

export function createAuditRing(size: number, now: () => number = Date.now): AuditRing {
  if (!Number.isInteger(size) || size < 1) throw new Error("ops: recentAuditEvents must be a positive integer");
  const items: RecordedAuditEvent[] = [];
  let next = 0;
  return {
    push(event) {
      // Copy the fields an audit record may carry, nothing else (a caller's object could hold more).
      const recorded: RecordedAuditEvent = {
        at: now(),
        event: event.event,
        outcome: event.outcome,
        ...(event.actor ? { actor: { ...event.actor } } : {}),
        ...(event.target === undefined ? {} : { target: event.target }),
        ...(event.reason === undefined ? {} : { reason: event.reason }),
        ...(event.requestId === undefined ? {} : { requestId: event.requestId }),
      };
      if (items.length < size) items.push(recorded);
      else items[next] = recorded;
      next = (next + 1) % size;
    },
    list() {
      return items.length < size ? [...items] : [...items.slice(next), ...items.slice(0, next)];
    },
  };
}
