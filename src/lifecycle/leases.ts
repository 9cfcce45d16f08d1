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
  /**
   * After the host starts and after the store comes back from an outage, leases are not ended for
   * this long: live runtimes, whose heartbeats failed meanwhile, renew first. Default
   * min(leaseMs, 1.5 s): the SDK beats at least every second, sooner after a failure.
   */
  renewGraceMs?: number;
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
  const graceMs = options.renewGraceMs ?? Math.min(leaseMs, 1_500);
  let holdUntil = now() + graceMs;
  let storeFailing = false;
  let sweeping = false;
  async function sweepOnce() {
    if (storeFailing) {
      if (!(await store.ping())) return;
      storeFailing = false;
      holdUntil = now() + graceMs;
    }
    if (now() < holdUntil) return;
    try {
      const ended = await store.sweepLeases(now());
      if (ended > 0) logger.info({ ended }, "registrations whose lease ran out removed");
    } catch (error) {
      storeFailing = true;
      logger.debug({ err: String(error) }, "lease sweep failed");
    }
  }
  const timer = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    void sweepOnce().finally(() => (sweeping = false));
  }, intervalMs);
  timer.unref();
  return {
    leaseMs,
    renew: (runtimeId) => store.renewLease(runtimeId, now() + leaseMs),
    stop: () => clearInterval(timer),
  };
}
