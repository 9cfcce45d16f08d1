/** A plugin process a launcher started, as the host's ops concern sees it. */
export interface LaunchedPlugin {
  name: string;
  pid: number | undefined;
  /** starting | ready | restarting (backing off) | stopped | failed | gave-up */
  state: string;
  restarts: number;
  runtimeId: string | undefined;
}

/**
 * What the launchers of this host launched: each launcher adds a source it answers from,
 * so /readyz, the dashboard and Admin.ListPlugins read the live state, never a copy.
 */
export interface LaunchedPlugins {
  /** Returns a function that removes the source. */
  add(source: () => readonly LaunchedPlugin[]): () => void;
  list(): LaunchedPlugin[];
}

export function createLaunchedPlugins(): LaunchedPlugins {
  const sources = new Set<() => readonly LaunchedPlugin[]>();
  return {
    add(source) {
      sources.add(source);
      return () => sources.delete(source);
    },
    list() {
      // A pid is shown only while its process lives (starting or ready): a stopped plugin's old pid may be reused.
      return [...sources]
        .flatMap((source) => source())
        .map((p) => ({ ...p, pid: p.state === "starting" || p.state === "ready" ? p.pid : undefined }));
    },
  };
}
