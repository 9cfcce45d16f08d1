import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type { KVService } from "../../../gen/kv/v1/kv_pb.js";
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

/** Calls Get back to back until `until` resolves; each call's outcome with its time. */
export async function callUntil(kv: Client<typeof KVService>, until: Promise<unknown>): Promise<CallRecord[]> {
  const records: CallRecord[] = [];
  let done = false;
  void until.finally(() => (done = true));
  while (!done) {
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
