import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { WatchEventType, type WatchResponse } from "../../../gen/plugboard/v1/registry_pb.js";
import type { Plugin } from "../../../src/sdk/index.js";
import { COOKIE } from "../../helpers/host.js";
import { spawnGroup } from "../../helpers/processes.js";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const PROVIDER = fileURLToPath(new URL("../../fixtures/lifecycle/sdk-plugin.ts", import.meta.url));

export interface ProviderProcess {
  child: ChildProcess;
  runtimeId: string;
}

/** An SDK KV provider run by hand (not launched) as a real process; its Get answers `name`. */
export async function startProvider(hostUrl: string, name: string): Promise<ProviderProcess> {
  const child = spawnGroup(process.execPath, ["--import", "tsx", PROVIDER], {
    cwd: REPO_ROOT,
    env: { ...process.env, PLUGBOARD_HOST_URL: hostUrl, PLUGBOARD_COOKIE_KEY: COOKIE.key, PLUGBOARD_COOKIE_VALUE: COOKIE.value, FIXTURE_NAME: name },
  });
  const lines = createInterface({ input: child.stdout! });
  const runtimeId = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`provider ${name} did not start`)), 30_000);
    lines.on("line", (line) => {
      const m = /^READY (\S+)$/.exec(line);
      if (m) (clearTimeout(timer), resolve(m[1]!));
    });
    child.once("exit", (code) => reject(new Error(`provider ${name} exited with ${code}`)));
  });
  child.stderr!.resume();
  return { child, runtimeId };
}

export interface CallRecord {
  at: number;
  ok: boolean;
  provider?: string;
  code?: Code;
  message?: string;
}

export interface Recovery {
  /** Calls that failed before the first success. */
  failures: CallRecord[];
  /** The calls made once the first one succeeded: recovered means every one of them succeeds. */
  settled: CallRecord[];
}

/**
 * Calls Get back to back until one succeeds (within `boundMs`, a generous bound, not a measurement), then
 * `settled` more. Recovery is the first success, an event, not a point on the clock: how fast it comes
 * is for the benchmark, not for a test on a shared machine.
 */
export async function throughRecovery(kv: Client<typeof KVService>, opts: { settled?: number; boundMs?: number } = {}): Promise<Recovery> {
  const deadline = Date.now() + (opts.boundMs ?? 30_000);
  const failures: CallRecord[] = [];
  for (;;) {
    const [record] = await callUntil(kv, Promise.resolve(), 1);
    if (record!.ok) break;
    failures.push(record!);
    if (Date.now() > deadline) throw new Error(`no routed call succeeded within ${opts.boundMs ?? 30_000} ms: ${JSON.stringify(failures.slice(-3))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const settled = await callUntil(kv, Promise.resolve(), opts.settled ?? 30);
  return { failures, settled };
}

/** Calls Get back to back until `until` resolves (at least `atLeast` calls); each call's outcome with its time. */
export async function callUntil(kv: Client<typeof KVService>, until: Promise<unknown>, atLeast = 0): Promise<CallRecord[]> {
  const records: CallRecord[] = [];
  let done = false;
  void until.finally(() => (done = true));
  while (!done || records.length < atLeast) {
    const at = Date.now();
    try {
      const res = await kv.get({ key: "k" }, { timeoutMs: 2_000 });
      records.push({ at, ok: true, provider: new TextDecoder().decode(res.value) });
    } catch (e) {
      records.push({ at, ok: false, code: ConnectError.from(e).code, message: ConnectError.from(e).rawMessage });
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return records;
}

/**
 * Host options for these tests: providers and consumers run by hand prove no name (no launch
 * secret, enrolment token or certificate), as in development.
 */
export const HAND_RUN = { allowUnprovenNames: true } as const;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Watches KVService through `consumer`; resolves `removed(runtimeId)` on its REMOVED event. */
export function watchRemovals(consumer: Plugin, closers: (() => Promise<void>)[]) {
  const abort = new AbortController();
  closers.push(async () => abort.abort());
  const events: WatchResponse[] = [];
  const waiters: Array<() => void> = [];
  let snapshotSeen: () => void = () => undefined;
  const snapshot = new Promise<void>((r) => (snapshotSeen = r));
  void (async () => {
    try {
      for await (const event of consumer.watch(KVService, { signal: abort.signal })) {
        events.push(event);
        if (event.type === WatchEventType.SNAPSHOT && event.snapshotComplete) snapshotSeen();
        for (const w of waiters.splice(0)) w();
      }
    } catch {
      // aborted at the end of the test
    }
  })();
  const removal = (runtimeId: string) =>
    events.find((e) => e.type === WatchEventType.REMOVED && e.registrations.some((r) => r.runtimeId === runtimeId));
  return {
    /** Resolves once the watch's snapshot is complete: removals from then on are seen. */
    snapshot,
    async removed(runtimeId: string, timeoutMs: number): Promise<WatchResponse> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = removal(runtimeId);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no REMOVED event for ${runtimeId} within ${timeoutMs} ms`);
        await new Promise<void>((r) => (waiters.push(r), setTimeout(r, 200)));
      }
    },
  };
}
