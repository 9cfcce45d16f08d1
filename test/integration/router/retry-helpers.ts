/** Shared by the safe-retry suites: one call of each kind, and a front whose resolver prefers provider A until it fails. */
import type { Client } from "@connectrpc/connect";
import type { KVService } from "../../../gen/kv/v1/kv_pb.js";
import type { OutlierDetector } from "../../../src/router/outlier-ejection.js";
import type { RouterOptions } from "../../../src/router/index.js";
import { ALL_PROTOCOLS, SIGNING_KEY, messages, startFront, stubRouterOptions } from "./harness.js";

export type Kind = "unary" | "server-stream" | "client-stream" | "bidi";
export const KINDS: Kind[] = ["unary", "server-stream", "client-stream", "bidi"];

/** One call of the kind through the healthy provider: what it answers. */
export async function call(kv: Client<typeof KVService>, kind: Kind): Promise<string> {
  switch (kind) {
    case "unary":
      return (await kv.get({ key: "a" })).caller;
    case "server-stream": {
      const got: string[] = [];
      for await (const m of kv.list({ prefix: "p" })) got.push(m.key);
      return got.join(",");
    }
    case "client-stream":
      return String((await kv.putMany(messages([{ key: "a" }, { key: "b" }, { key: "c" }]))).count);
    case "bidi": {
      const got: string[] = [];
      for await (const m of kv.exchange(messages([{ text: "x" }, { text: "y" }]))) got.push(m.text);
      return got.join(",");
    }
  }
}
export const ANSWER: Record<Kind, string> = { unary: "runtime:alice", "server-stream": "p0,p1,p2", "client-stream": "3", bidi: "echo:x,echo:y" };

/**
 * A front whose resolver prefers provider A until the router reports a failure of it (as the
 * host's outlier ejection would), then answers B; `reset()` puts A back for the next call.
 */
export async function frontPreferring(aUrl: string, bUrl: string, onCallStart?: () => void, extra: Partial<RouterOptions> = {}, protocols = ALL_PROTOCOLS) {
  let aFailed = false;
  const counts = { a: 0, b: 0 };
  const outliers: OutlierDetector = {
    failure: (id) => {
      if (id === "A") aFailed = true;
    },
    success: () => {},
    filter: (c) => c,
    ejectedCount: () => 0,
    ejectionsTotal: () => 0,
  };
  const front = await startFront({
    ...stubRouterOptions(() => bUrl),
    outliers,
    ...(onCallStart ? { onCallStart } : {}),
    ...extra,
    async resolve() {
      const useA = !aFailed;
      counts[useA ? "a" : "b"]++;
      return { runtimeId: useA ? "A" : "B", registrationId: useA ? "ra" : "rb", endpoint: useA ? aUrl : bUrl, signingKey: SIGNING_KEY, protocols };
    },
  });
  return { front, counts, reset: () => (aFailed = false) };
}
