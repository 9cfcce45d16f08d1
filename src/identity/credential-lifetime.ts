import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Store } from "../store/types.js";
import { identityKey, type Identity } from "./identity.js";

/** setTimeout's ceiling (~24.8 days): a longer wait is re-armed when it fires. */
const MAX_TIMER_MS = 2_147_483_647;
/** A failed store read is retried this soon (the store guard already logs the outage). */
const RETRY_MS = 1_000;

export interface CredentialLifetimeOptions {
  store: Pick<Store, "getRuntime" | "onRuntimeEnded">;
  /** The host's clock. */
  now?: () => number;
}

/**
 * Tells when a caller's credential ends: its runtime removed (revoked, swept; on any host sharing the
 * store), its runtime's expiry passed unrefreshed (by the host's clock), or its JWT/certificate's
 * `expiresAt` reached. One store subscription serves every watch.
 */
export interface CredentialLifetime {
  /**
   * Calls `onEnd` once, with an Unauthenticated error, when the credential ends; returns "stop watching".
   * `firstCheckAfterMs` defers the first store read (the caller was just authenticated): removals are
   * heard at once regardless, and an expiry within that time is noticed at its end. For short calls.
   */
  watch(identity: Identity, onEnd: (error: ConnectError) => void, options?: { firstCheckAfterMs?: number }): () => void;
  close(): void;
}

/** How often deferred first checks are looked at: one shared timer instead of one per watch (a per-call cost for routed calls). */
const DEFERRED_TICK_MS = 100;

export function createCredentialLifetime(options: CredentialLifetimeOptions): CredentialLifetime {
  const now = options.now ?? Date.now;
  const byRuntime = new Map<string, Set<CredentialWatch>>();
  let unsubscribe: (() => void) | undefined;
  /** Watches whose first check is deferred: due time (host clock). Most end before it (short calls). */
  const deferred = new Map<CredentialWatch, number>();
  let deferredTimer: NodeJS.Timeout | undefined;
  const runDue = () => {
    const at = now();
    for (const [watch, due] of deferred) if (at >= due) (deferred.delete(watch), void watch.check());
    if (deferred.size === 0) {
      clearInterval(deferredTimer);
      deferredTimer = undefined;
    }
  };
  const shared: WatchShared = {
    now,
    store: options.store,
    byRuntime,
    deferred,
    defer(watch, due) {
      deferred.set(watch, due);
      if (deferredTimer === undefined) {
        deferredTimer = setInterval(runDue, DEFERRED_TICK_MS);
        deferredTimer.unref();
      }
    },
  };

  return {
    watch(identity, onEnd, watchOptions = {}) {
      const watch = new CredentialWatch(shared, identity, onEnd);
      const runtimeId = watch.runtimeId;
      if (runtimeId !== undefined) {
        unsubscribe ??= options.store.onRuntimeEnded((ended, cause) => {
          for (const w of [...(byRuntime.get(ended) ?? [])]) w.finish(`the caller's runtime ended (${cause})`);
        });
        let set = byRuntime.get(runtimeId);
        if (!set) byRuntime.set(runtimeId, (set = new Set()));
        set.add(watch);
      }
      const deferMs = watchOptions.firstCheckAfterMs ?? 0;
      if (deferMs > 0) shared.defer(watch, Math.min(identity.expiresAt ?? Number.POSITIVE_INFINITY, now() + deferMs));
      else void watch.check();
      return () => watch.stop();
    },
    close() {
      clearInterval(deferredTimer);
      deferredTimer = undefined;
      deferred.clear();
      unsubscribe?.();
      unsubscribe = undefined;
      byRuntime.clear();
    },
  };
}

/** What every watch of one CredentialLifetime shares. */
interface WatchShared {
  readonly now: () => number;
  readonly store: Pick<Store, "getRuntime">;
  readonly byRuntime: Map<string, Set<CredentialWatch>>;
  readonly deferred: Map<CredentialWatch, number>;
  defer(watch: CredentialWatch, due: number): void;
}

/** One watch: its state on one object (a routed call makes one per call), its steps shared methods. */
class CredentialWatch {
  private done = false;
  private timer: NodeJS.Timeout | undefined = undefined;
  readonly runtimeId: string | undefined;

  constructor(
    private readonly shared: WatchShared,
    private readonly identity: Identity,
    private readonly onEnd: (error: ConnectError) => void,
  ) {
    this.runtimeId = identity.kind === "runtime" ? identity.runtimeId : undefined;
  }

  stop(): void {
    this.done = true;
    clearTimeout(this.timer);
    const { deferred, byRuntime } = this.shared;
    deferred.delete(this);
    if (this.runtimeId === undefined) return;
    const set = byRuntime.get(this.runtimeId);
    set?.delete(this);
    if (set?.size === 0) byRuntime.delete(this.runtimeId);
  }

  finish(message: string): void {
    if (this.done) return;
    this.stop();
    this.onEnd(new ConnectError(message, Code.Unauthenticated));
  }

  private checkAt(at: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(recheck, Math.min(Math.max(at - this.shared.now(), 0), MAX_TIMER_MS), this);
    this.timer.unref();
  }

  /** Runs at the start and whenever the nearest expiry is due: a refresh may have moved the runtime's. */
  async check(): Promise<void> {
    if (this.done) return;
    const { identity, runtimeId } = this;
    const { now, store } = this.shared;
    if (identity.expiresAt !== undefined && now() >= identity.expiresAt) return this.finish("the caller's credential expired");
    let due = identity.expiresAt ?? Number.POSITIVE_INFINITY;
    if (runtimeId !== undefined) {
      let runtime;
      try {
        runtime = await store.getRuntime(runtimeId);
      } catch {
        if (!this.done) this.checkAt(now() + RETRY_MS);
        return;
      }
      if (this.done) return;
      if (!runtime || runtime.expiresAt <= now()) return this.finish("the caller's runtime token expired or was revoked");
      due = Math.min(due, runtime.expiresAt);
    }
    if (Number.isFinite(due)) this.checkAt(due);
  }
}

function recheck(watch: CredentialWatch): void {
  void watch.check();
}

/**
 * Ends every streaming host RPC of an authenticated caller with Unauthenticated once its credential
 * ends (see CredentialLifetime). The handler's signal is aborted too, so it cleans up as on a client
 * disconnect; the client sees the end at once even if the handler is slow to notice. Goes after the
 * identity interceptor. Unauthenticated (public) streams have no credential to outlive.
 */
export function createStreamLifetimeInterceptor(lifetime: CredentialLifetime): Interceptor {
  return (next) => async (req) => {
    const identity = req.contextValues.get(identityKey);
    if (!req.stream || !identity) return next(req);
    const ended = new AbortController();
    const stop = lifetime.watch(identity, (error) => ended.abort(error));
    let res;
    try {
      res = await next({ ...req, signal: AbortSignal.any([req.signal, ended.signal]) });
    } catch (error) {
      stop();
      throw error;
    }
    if (!res.stream) {
      stop();
      return res;
    }
    return { ...res, message: endWhenAborted(res.message, ended.signal, stop) };
  };
}

/**
 * Passes `inner` through until `ended` aborts, then throws its reason without waiting for `inner`.
 * A plain iterator with one abort listener: racing every message against one long-lived promise
 * (Promise.race) would leave a reaction on it per message for the life of the stream.
 */
function endWhenAborted<T>(inner: AsyncIterable<T>, ended: AbortSignal, stop: () => void): AsyncIterable<T> {
  const iterator = inner[Symbol.asyncIterator]();
  let closed = false;
  let finished = false;
  let pending: ((reason: unknown) => void) | undefined;
  const onAbort = () => pending?.(ended.reason);
  ended.addEventListener("abort", onAbort, { once: true });
  const close = () => {
    if (closed) return;
    closed = true;
    ended.removeEventListener("abort", onAbort);
    stop();
    // The handler may still be waiting; it ends on its aborted signal, and its cleanup runs then.
    if (!finished) iterator.return?.().catch(() => undefined);
  };
  const next = (): Promise<IteratorResult<T>> => {
    if (ended.aborted) {
      close();
      return Promise.reject(ended.reason);
    }
    if (closed) return Promise.resolve({ done: true, value: undefined });
    return new Promise<IteratorResult<T>>((resolve, reject) => {
      pending = (reason) => {
        pending = undefined;
        close();
        reject(reason);
      };
      iterator.next().then(
        (result) => {
          pending = undefined;
          if (!result.done) return resolve(result);
          finished = true;
          close();
          // A handler that ended because its signal was aborted by us: the stream still ends Unauthenticated.
          if (ended.aborted) reject(ended.reason);
          else resolve(result);
        },
        (error: unknown) => {
          pending = undefined;
          close();
          reject(error);
        },
      );
    });
  };
  const end = (value?: unknown): Promise<IteratorResult<T>> => {
    close();
    return Promise.resolve({ done: true, value: value as T });
  };
  return {
    [Symbol.asyncIterator]: () => ({
      next,
      return: end,
      throw: (error: unknown) => {
        close();
        return Promise.reject(error);
      },
    }),
  };
}
