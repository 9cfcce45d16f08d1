import { Code, ConnectError } from "@connectrpc/connect";
import type { WatchSecretsResponse } from "../../gen/plugboard/v1/secrets_pb.js";

/** One version of a secret as the plugin holds it. */
export interface SecretVersion {
  name: string;
  version: string;
  value: Uint8Array;
  /** The host could not read the secret at its last refresh: this is the last good value. */
  stale: boolean;
}

export interface SecretChange {
  current: SecretVersion;
  /** The version it replaced, if the plugin had one. */
  previous?: SecretVersion;
}

export interface SecretWatchOptions {
  watch(signal: AbortSignal): AsyncIterable<WatchSecretsResponse>;
  /** How long a replaced version stays readable through `previous()`. */
  graceMs: number;
  onError?(error: ConnectError): void;
  /** First wait before watching again after the stream ended; doubles up to 30 s while it keeps failing. */
  retryMs?: number;
  now?: () => number;
}

export interface SecretWatch {
  start(): void;
  stop(): void;
  /** The current version, once the host sent it. */
  current(name: string): SecretVersion | undefined;
  /** The version the current one replaced, within the grace period after the change. */
  previous(name: string): SecretVersion | undefined;
  /** Called for every new version (and stale/fresh flips) of `name`; returns an unsubscribe function. */
  onChange(name: string, listener: (change: SecretChange) => void): () => void;
}

/** Codes after which watching again cannot help until the plugin changes (or the host does). */
const FINAL = new Set([Code.Unimplemented]);

/**
 * Keeps a plugin's secrets current from SecretsService.WatchSecrets: the stream is watched again
 * whenever it ends (token rotation, host restart), and each reconnect's first message is compared
 * with what the plugin already holds, so listeners hear of every change exactly once.
 */
export function createSecretWatch(options: SecretWatchOptions): SecretWatch {
  const now = options.now ?? Date.now;
  const held = new Map<string, { current: SecretVersion; previous?: SecretVersion; previousUntil: number }>();
  const listeners = new Map<string, Set<(change: SecretChange) => void>>();
  let controller: AbortController | undefined;

  const same = (a: SecretVersion, b: SecretVersion) => a.version === b.version && a.stale === b.stale && sameValue(a, b);

  function apply(message: WatchSecretsResponse): void {
    for (const name of message.removed) held.delete(name);
    for (const s of message.secrets) {
      const current: SecretVersion = { name: s.name, version: s.version, value: s.value, stale: s.stale };
      const before = held.get(s.name);
      if (before && same(before.current, current)) continue;
      // A stale flag changes nothing about which value is current: the previous version stays what it was.
      const replaced = before && (before.current.version !== current.version || !sameValue(before.current, current));
      const entry = replaced
        ? { current, previous: before.current, previousUntil: now() + options.graceMs }
        : { current, ...(before?.previous ? { previous: before.previous } : {}), previousUntil: before?.previousUntil ?? 0 };
      held.set(s.name, entry);
      for (const listener of listeners.get(s.name) ?? [])
        listener({ current, ...(replaced ? { previous: before.current } : {}) });
    }
  }

  async function run(signal: AbortSignal): Promise<void> {
    let delay = options.retryMs ?? 1_000;
    while (!signal.aborted) {
      try {
        for await (const message of options.watch(signal)) {
          apply(message);
          delay = options.retryMs ?? 1_000;
        }
      } catch (e) {
        if (signal.aborted) return;
        const error = ConnectError.from(e);
        options.onError?.(error);
        if (FINAL.has(error.code)) return;
      }
      await new Promise((resolve) => setTimeout(resolve, delay).unref());
      delay = Math.min(delay * 2, 30_000);
    }
  }

  return {
    start() {
      if (controller) return;
      controller = new AbortController();
      void run(controller.signal);
    },
    stop() {
      controller?.abort();
      controller = undefined;
    },
    current: (name) => held.get(name)?.current,
    previous(name) {
      const entry = held.get(name);
      return entry?.previous && entry.previousUntil > now() ? entry.previous : undefined;
    },
    onChange(name, listener) {
      const set = listeners.get(name) ?? new Set();
      listeners.set(name, set);
      set.add(listener);
      return () => set.delete(listener);
    },
  };
}

function sameValue(a: SecretVersion, b: SecretVersion): boolean {
  return Buffer.compare(Buffer.from(a.value), Buffer.from(b.value)) === 0;
}
