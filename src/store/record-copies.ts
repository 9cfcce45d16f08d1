import type { CredentialRecord, RegistrationRecord, RuntimeRecord } from "./types.js";

/*
 * Records go in and come out of stores and caches as deep copies: callers can never mutate their state.
 * Copied field by field (the shapes are fixed and shallow) because these run on every routed
 * call, where structuredClone costs an order of magnitude more.
 */
export const copyRuntime = (r: RuntimeRecord): RuntimeRecord => ({
  ...r,
  provides: r.provides.map((p) => ({ ...p })),
  requires: r.requires.map((n) => ({ ...n })),
  capabilities: [...r.capabilities],
  secrets: r.secrets.map((s) => ({ ...s })),
});
export const copyCredential = (c: CredentialRecord): CredentialRecord => ({ ...c });
export const copyRegistration = (g: RegistrationRecord): RegistrationRecord => ({ ...g, metadata: { ...g.metadata } });
