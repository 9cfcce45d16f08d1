import type { Store } from "../store/types.js";
import type { LaunchedPlugins } from "./launched.js";

export interface Readiness {
  ready: boolean;
  /** One line: "ready", or what is not. */
  detail: string;
}

/**
 * Ready when the store answers within `timeoutMs` and every launched plugin is ready. A plugin
 * stopped on purpose is not waited for; one starting, backing off, failed or given up is.
 */
export function createReadinessCheck(store: Store, launched: LaunchedPlugins, timeoutMs: number): () => Promise<Readiness> {
  return async () => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      const storeOk = await Promise.race([store.ping().catch(() => false), timeout]);
      if (!storeOk) return { ready: false, detail: "store unavailable" };
    } finally {
      clearTimeout(timer);
    }
    const waiting = launched.list().filter((p) => p.state !== "ready" && p.state !== "stopped");
    if (waiting.length > 0)
      return { ready: false, detail: `plugins not ready: ${waiting.map((p) => `${p.name} (${p.state})`).join(", ")}` };
    return { ready: true, detail: "ready" };
  };
}
