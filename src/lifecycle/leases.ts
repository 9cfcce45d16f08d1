import type { Logger } from "../log/logger.js";
import type { Store } from "../store/types.js";

/** Default registration lease: a provider that stops renewing (killed -9) leaves rotation within it. */
export const DEFAULT_REGISTRATION_LEASE_MS = 10_000;

export interface LeaseOptions {
  store: Store;
  /** Lease length; 0 turns leases off (registrations then live as long as their runtime's token). */
  leaseMs: number;
  now: () => number;
  logger: Logger;
  /** How often ended leases are swept. Default leaseMs / 10 (at least 100 ms, at most 1 s). */
  sweepIntervalMs?: number;
}

export interface Leases {
  readonly leaseMs: number;
  /** Starts or renews the lease on every registration `runtimeId` holds. */
  renew(runtimeId: string): Promise<void>;
  stop(): void;
}

/**
 * Registrations are leases renewed by their runtime (LifecycleService.Heartbeat, Register): a
 * runtime that dies without a word stops renewing, and every host sharing the store sweeps its
 * registrations away with REMOVAL_REASON_LEASE_EXPIRED. The runtime itself stays until its token
 * expires: a live plugin that was only cut off re-registers at its next heartbeat.
 */
export function createLeases(options: LeaseOptions): Leases {
  const { store, leaseMs, now, logger } = options;
  if (!Number.isFinite(leaseMs) || leaseMs < 0) throw new Error("createPluginHost: registrationLeaseMs must be a non-negative number");
  if (leaseMs === 0) return { leaseMs, renew: async () => undefined, stop: () => undefined };
  const intervalMs = options.sweepIntervalMs ?? Math.min(1_000, Math.max(100, leaseMs / 10));
  let sweeping = false;
  const timer = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    store
      .sweepLeases(now())
      .then((ended) => ended > 0 && logger.info({ ended }, "registrations whose lease ran out removed"))
      .catch((error: unknown) => logger.debug({ err: String(error) }, "lease sweep failed"))
      .finally(() => (sweeping = false));
  }, intervalMs);
  timer.unref();
  return {
    leaseMs,
    renew: (runtimeId) => store.renewLease(runtimeId, now() + leaseMs),
    stop: () => clearInterval(timer),
  };
}
