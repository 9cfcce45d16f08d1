import type { Identity } from "../identity/identity.js";

/** One security-relevant action. Never carries a token or secret value. */
export interface AuditEvent {
  event: string;
  outcome: "success" | "failure";
  actor?: Pick<Identity, "subject" | "method"> & { runtimeId?: string; pluginName?: string; nameProof?: string };
  target?: string;
  reason?: string;
  requestId?: string | undefined;
}

export type AuditSink = (event: AuditEvent) => void;

export function actorOf(identity: Identity | undefined): AuditEvent["actor"] {
  if (!identity) return undefined;
  return {
    subject: identity.subject,
    method: identity.method,
    ...(identity.runtimeId === undefined ? {} : { runtimeId: identity.runtimeId }),
    ...(identity.pluginName === undefined ? {} : { pluginName: identity.pluginName }),
    // Audit readers must see when a name was only claimed (allowUnprovenNames).
    ...(identity.nameProof === undefined ? {} : { nameProof: identity.nameProof }),
  };
}
