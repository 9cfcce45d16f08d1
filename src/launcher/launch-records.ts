import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { Logger } from "../log/logger.js";
import type { RuntimeRecord, Store } from "../store/types.js";

/**
 * Who launched a runtime, kept on its record in the store: a host restarted after kill -9 finds
 * the runtimes its dead predecessor launched on this machine (they died with it: the plugin
 * watchdog) and removes them at once, rather than routing to them until their lease runs out.
 */
export interface LaunchRecord {
  /** hostname + boot id: pids mean something only on the same machine since the same boot. */
  machine: string;
  hostPid: number;
  pluginPid: number;
}

type Launched = RuntimeRecord & { launchedBy?: LaunchRecord };

let machineId: string | undefined;
export function thisMachine(): string {
  if (machineId === undefined) {
    let boot = "";
    try {
      boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    } catch {
      // not Linux: the hostname alone
    }
    machineId = `${hostname()}/${boot}`;
  }
  return machineId;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Marks `runtimeId` as launched by this host process as `pluginPid`. */
export async function recordLaunch(store: Store, runtimeId: string, pluginPid: number): Promise<void> {
  const runtime = await store.getRuntime(runtimeId);
  if (!runtime || pluginPid <= 0) return;
  const launchedBy: LaunchRecord = { machine: thisMachine(), hostPid: process.pid, pluginPid };
  await store.putRuntime({ ...runtime, launchedBy } as Launched);
}

/**
 * Removes runtimes launched on this machine by a host process that is gone (or whose pid this very
 * process now has, as in a restarted container). A host pid reused by another process hides a dead
 * launch: the registration lease removes those.
 */
export async function forgetDeadLaunches(store: Store, logger: Logger): Promise<number> {
  const machine = thisMachine();
  let removed = 0;
  for (const runtime of (await store.listRuntimes()) as Launched[]) {
    const by = runtime.launchedBy;
    if (!by || by.machine !== machine) continue;
    const hostGone = by.hostPid === process.pid || !alive(by.hostPid);
    if (!hostGone) continue;
    if (await store.removeRuntime(runtime.runtimeId, "revoked")) removed++;
  }
  if (removed > 0) logger.info({ removed }, "removed runtimes launched by a host process that is gone");
  return removed;
}
