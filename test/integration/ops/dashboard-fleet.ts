/** A small demo fleet for the dashboard tests: a launched KV provider, an in-process one, a few routed calls. */
import { fileURLToPath } from "node:url";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { createPluginHost, type PluginHost } from "../../../src/host/create.js";
import { createLauncher, served, startInProcess, type InProcessPlugin, type Launcher } from "../../../src/launcher/index.js";
import { silentLogger } from "../../../src/log/logger.js";
import type { OpsListenOptions, OpsServer } from "../../../src/ops/index.js";
import { EXAMPLE_COOKIE } from "../../../examples/cookie.js";
import { createKvService } from "../../../examples/kv-provider/kv-service.js";

export interface DemoFleet {
  host: PluginHost;
  launcher: Launcher;
  inProcess: InProcessPlugin;
  ops: OpsServer;
  close(): Promise<void>;
}

export async function startDemoFleet(ops: OpsListenOptions = {}): Promise<DemoFleet> {
  const host = createPluginHost({
    magicCookie: EXAMPLE_COOKIE,
    logger: silentLogger(),
    auditLog: { destination: () => undefined },
    requireLaunchSecret: true,
  });
  const server = await host.listen();
  const launcher = createLauncher({ host, hostUrl: server.url, logger: silentLogger(), stopOnExit: true });
  let inProcess: InProcessPlugin | undefined;
  try {
    await launcher.startAll([
      {
        name: "kv-provider",
        command: process.execPath,
        args: ["--import", "tsx", fileURLToPath(new URL("../../../examples/kv-provider/main.ts", import.meta.url))],
        provides: [KVService.typeName],
        env: { KV_PROVIDER_NAME: "kv-provider" },
      },
    ]);
    inProcess = await startInProcess(host, {
      name: "kv-cache",
      hostUrl: server.url,
      magicCookie: EXAMPLE_COOKIE,
      provides: [served(KVService, createKvService("kv-cache"))],
    });
    // Routed calls from the host app, so the per-service table has numbers.
    const kv = host.client(KVService);
    for (let i = 0; i < 5; i++) await kv.put({ key: `k${i}`, value: new TextEncoder().encode("v") });
    const opsServer = await host.listenOps(ops);
    const fleet = inProcess;
    return {
      host,
      launcher,
      inProcess: fleet,
      ops: opsServer,
      async close() {
        await fleet.stop();
        await launcher.stopAll();
        await host.close();
      },
    };
  } catch (e) {
    await inProcess?.stop();
    await launcher.stopAll();
    await host.close();
    throw e;
  }
}
