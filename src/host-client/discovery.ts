import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Registration } from "../../gen/plugboard/v1/common_pb.js";
import { toRegistration } from "../registry/convert.js";
import { matchingProviders } from "../registry/select.js";
import type { Store, StoreEvent } from "../store/types.js";

export interface DiscoverOptions {
  /** semver range of provider versions. Default any. */
  versionRange?: string;
  includeUnhealthy?: boolean;
}

export type HostWatchEvent =
  | { type: "snapshot"; registrations: Registration[] }
  | { type: "added" | "updated"; registration: Registration }
  | { type: "removed"; registration: Registration; cause: string };

const typeOf = (service: DescService | string) => (typeof service === "string" ? service : service.typeName);

/** Registry reads for the host app, in-process: discover, wait for a provider, watch changes. */
export function createHostDiscovery(store: Store) {
  async function discover(service: DescService | string, options: DiscoverOptions = {}): Promise<Registration[]> {
    const registered = await store.listRegistrations(typeOf(service));
    return matchingProviders(registered, options.versionRange ?? "*", options.includeUnhealthy ?? false).map(toRegistration);
  }

  /** Resolves with the providers once at least one healthy provider in range is registered. */
  function waitFor(service: DescService | string, options: { timeoutMs?: number; versionRange?: string } = {}): Promise<Registration[]> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const discoverOptions = options.versionRange === undefined ? {} : { versionRange: options.versionRange };
    return new Promise((resolve, reject) => {
      let done = false;
      let checking = Promise.resolve();
      const finish = (outcome: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        unsubscribe();
        outcome();
      };
      // Checks run one after another, so an event arriving mid-check is looked at with a fresh read.
      const check = () => {
        checking = checking
          .then(() => discover(service, discoverOptions))
          .then((found) => {
            if (found.length > 0) finish(() => resolve(found));
          })
          .catch((e: unknown) => finish(() => reject(e)));
      };
      const unsubscribe = store.subscribe((event) => event.registration.serviceType === typeOf(service) && check());
      const timer = setTimeout(
        () => finish(() => reject(new ConnectError(`no healthy provider of ${typeOf(service)} within ${timeoutMs} ms`, Code.DeadlineExceeded))),
        timeoutMs,
      );
      timer.unref();
      check();
    });
  }

  /** The service's registrations now, then every change, until `signal` aborts. */
  async function* watch(service: DescService | string, options: { signal?: AbortSignal } = {}): AsyncGenerator<HostWatchEvent> {
    const type = typeOf(service);
    const queue: StoreEvent[] = [];
    let wake: (() => void) | undefined;
    const unsubscribe = store.subscribe((event) => {
      if (event.registration.serviceType !== type) return;
      queue.push(event);
      wake?.();
    });
    const aborted = () => wake?.();
    options.signal?.addEventListener("abort", aborted);
    try {
      const snapshot = await store.listRegistrations(type);
      const seen = new Set(snapshot.map((r) => r.registrationId));
      yield { type: "snapshot", registrations: snapshot.map(toRegistration) };
      while (!options.signal?.aborted) {
        const event = queue.shift();
        if (!event) {
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
          continue;
        }
        // An event the snapshot already reflects is not repeated.
        if (event.type === "added" && seen.delete(event.registration.registrationId)) continue;
        seen.delete(event.registration.registrationId);
        yield event.type === "removed"
          ? { type: "removed", registration: toRegistration(event.registration), cause: event.cause }
          : { type: event.type, registration: toRegistration(event.registration) };
      }
    } finally {
      unsubscribe();
      options.signal?.removeEventListener("abort", aborted);
    }
  }

  return { discover, waitFor, watch };
}
