import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { KVService } from "../../gen/kv/v1/kv_pb.js";
import { callerKey } from "../../src/sdk/index.js";

/** Trailer every KV method sets, so tests can see trailers survive the router. */
export const KV_TRAILER = "x-kv-served-by";

export interface KvObserver {
  /** A List handler saw its signal abort (caller cancelled, deadline, connection lost). */
  onListAborted?: (reason: unknown) => void;
  /** A call arrived, with the caller the host vouched for. */
  onCall?: (method: string, callerSubject: string | undefined) => void;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** In-memory KV store implementing every KVService method; `name` goes into the trailer. */
export function createKvService(name = "kv-provider", observer: KvObserver = {}): ServiceImpl<typeof KVService> {
  const store = new Map<string, Uint8Array>();
  const seen = (method: string, ctx: HandlerContext) => {
    const caller = ctx.values.get(callerKey);
    ctx.responseTrailer.set(KV_TRAILER, name);
    observer.onCall?.(method, caller?.subject);
    return caller;
  };

  return {
    async get(req, ctx) {
      const caller = seen("Get", ctx);
      const value = store.get(req.key);
      return { key: req.key, value: value ?? new Uint8Array(), found: value !== undefined, caller: caller?.subject ?? "" };
    },
    async put(req, ctx) {
      seen("Put", ctx);
      store.set(req.key, req.value);
      return {};
    },
    async *list(req, ctx) {
      seen("List", ctx);
      ctx.signal.addEventListener("abort", () => observer.onListAborted?.(ctx.signal.reason), { once: true });
      const keys = [...store.keys()].filter((k) => k.startsWith(req.prefix)).sort();
      for (const key of keys) {
        if (req.delayMs > 0) await sleep(req.delayMs, ctx.signal);
        yield { key, value: store.get(key) ?? new Uint8Array() };
      }
    },
    async putMany(reqs, ctx) {
      seen("PutMany", ctx);
      let count = 0;
      for await (const req of reqs) {
        store.set(req.key, req.value);
        count++;
      }
      return { count };
    },
    async *exchange(reqs, ctx) {
      seen("Exchange", ctx);
      for await (const req of reqs) yield { text: `echo: ${req.text}` };
    },
  };
}
