import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { Health, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { peerAddressKey, peerKey } from "../admission/index.js";
import { createSlots } from "../server-limits/index.js";
import { DEFAULT_LIMITS } from "../protocol/constants.js";
import type { Store } from "../store/types.js";

export interface HealthWatchLimits {
  /** Concurrent Watch streams per remote peer. */
  healthWatchersPerPeer: number;
  /** Concurrent Watch streams in total. */
  healthWatchers: number;
}

/** How often a Watch re-checks the status. */
const WATCH_POLL_MS = 5_000;

/**
 * The standard grpc.health.v1.Health service, so ordinary probes work. The empty
 * service name is the host as a whole: serving while its store answers. Watch streams
 * are public and long-lived, so they are capped per peer and in total (ResourceExhausted).
 */
export function createGrpcHealthService(
  store: Store,
  services: ReadonlySet<string>,
  limits: HealthWatchLimits = DEFAULT_LIMITS,
): ServiceImpl<typeof Health> {
  const watchers = createSlots(limits.healthWatchersPerPeer, limits.healthWatchers);
  async function status(service: string) {
    if (service !== "" && !services.has(service)) throw new ConnectError(`unknown service ${service}`, Code.NotFound);
    const up = await store.ping().catch(() => false);
    return up ? HealthCheckResponse_ServingStatus.SERVING : HealthCheckResponse_ServingStatus.NOT_SERVING;
  }
  return {
    async check(req) {
      return create(HealthCheckResponseSchema, { status: await status(req.service) });
    },
    async *watch(req, context) {
      const release = watchers.acquire(peerKey(context.values.get(peerAddressKey)));
      if (typeof release === "string") {
        const limit = release === "perPeer" ? "healthWatchersPerPeer" : "healthWatchers";
        throw new ConnectError(`too many health watch streams (limits.${limit} = ${limits[limit]})`, Code.ResourceExhausted);
      }
      try {
        let last: HealthCheckResponse_ServingStatus | undefined;
        while (!context.signal.aborted) {
          const now = await status(req.service);
          if (now !== last) yield create(HealthCheckResponseSchema, { status: now });
          last = now;
          // Ends at once when the caller goes, so its slot is free again.
          await sleep(WATCH_POLL_MS, undefined, { signal: context.signal, ref: false }).catch(() => undefined);
        }
      } finally {
        release();
      }
    },
  };
}
