import { ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import type { PluginSpec } from "../../../src/launcher/index.js";
import { COOKIE } from "../../helpers/host.js";
import { bearer } from "../../helpers/transports.js";
import { fixtureSpec, isAlive, REPO_ROOT, startLauncherHarness, waitFor, type LauncherHarness } from "./harness.js";

const KV_PROVIDER = fileURLToPath(new URL("../../../examples/kv-provider/main.ts", import.meta.url));

let h: LauncherHarness | undefined;
let manager: Http2SessionManager | undefined;
afterEach(async () => {
  manager?.abort();
  await h?.close();
  h = manager = undefined;
});

/** Workers calling Get through the host's router until stopped; every failure is kept. */
function startLoad(h: LauncherHarness, token: string, workers = 8) {
  manager = new Http2SessionManager(h.t.url);
  const kv = createClient(KVService, createConnectTransport({ baseUrl: h.t.url, httpVersion: "2", sessionManager: manager }));
  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      try {
        await kv.get({ key: "k" }, bearer(token));
        ok++;
      } catch (e) {
        failures.push(ConnectError.from(e).message);
      }
    }
  });
  return {
    ok: () => ok,
    async stop() {
      running = false;
      await Promise.all(loops);
      return { ok, failures };
    },
  };
}

async function replaceUnderLoad(spec: (version: string) => PluginSpec) {
  h = await startLauncherHarness({ drainSettleMs: 300 });
  const old = await h.launcher.start(spec("1"));
  const consumer = await h.t.handshake({ pluginName: "consumer", requires: [{ type: KVService.typeName }], launchSecret: h.t.host.issueLaunchSecret("consumer") });
  const load = startLoad(h, consumer.token);
  await waitFor("calls flowing", () => load.ok() > 20);
  const next = await h.launcher.replace(old.name, spec("2"));
  const okAtReplace = load.ok();
  await waitFor("calls served by the new instance", () => load.ok() > okAtReplace + 20);
  const { ok, failures } = await load.stop();
  expect(failures).toEqual([]);
  expect(ok).toBeGreaterThan(40);
  expect(next).toMatchObject({ state: "ready", restarts: 0 });
  expect(next.runtimeId).not.toBe(old.runtimeId);
  expect((await h.t.host.store.listRegistrations(KVService.typeName)).map((r) => r.runtimeId)).toEqual([next.runtimeId]);
  expect(await h.t.host.store.getRuntime(old.runtimeId!)).toBeUndefined();
  expect(isAlive(old.pid!)).toBe(false);
  expect(h.launcher.list()).toEqual([next]);
}

describe("hot replace", () => {
  it("under load, with the SDK's example KV provider, fails no call", async () => {
    await replaceUnderLoad((version) => ({
      name: "kv-provider",
      command: process.execPath,
      args: ["--import", "tsx", KV_PROVIDER],
      cwd: REPO_ROOT,
      env: { PLUGBOARD_COOKIE_KEY: COOKIE.key, PLUGBOARD_COOKIE_VALUE: COOKIE.value, KV_VERSION: version },
      provides: [KVService.typeName],
      startTimeoutMs: 8_000,
    }));
  });

  it("drains slow in-flight calls of the old instance: none fails", async () => {
    await replaceUnderLoad(() => fixtureSpec("kv", { FIXTURE_SLOW_MS: "80" }));
  });
});
