/**
 * The host app calls its plugins with `host.client`, as an app embedding the host would: a kv
 * provider launched as a real child process, called in each protocol and call kind, with every
 * call decided like a routed one (health, pin, policy, RBAC, metrics, a caller header naming the
 * host) and sent straight to the provider — the host's own server sees none of it.
 */
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { KV_TRAILER, createKvService } from "../../../examples/kv-provider/kv-service.js";
import { createPluginHost, type PluginHost } from "../../../src/host/create.js";
import type { PluginHostOptions } from "../../../src/host/options.js";
import { createLauncher, type Launcher } from "../../../src/launcher/index.js";
import { silentLogger } from "../../../src/log/logger.js";
import { createRbac } from "../../../src/policy/rbac.js";
import type { CallEndInfo } from "../../../src/router/router.js";
import { createPlugin, provide, type Plugin } from "../../../src/sdk/index.js";
import { COOKIE } from "../../helpers/host.js";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const KV_MAIN = fileURLToPath(new URL("../../../examples/kv-provider/main.ts", import.meta.url));
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => "ok" as const,
    (e: unknown) => ConnectError.from(e).code,
  );

interface Rig {
  host: PluginHost;
  url: string;
  /** Requests the host's own HTTP/2 server received. */
  served: () => number;
  calls: CallEndInfo[];
  close(): Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A host on its own counting HTTP/2 server, so a test can see which calls reached it. */
async function startHost(options: Partial<PluginHostOptions> = {}): Promise<Rig> {
  const calls: CallEndInfo[] = [];
  const host = createPluginHost({
    magicCookie: COOKIE,
    logger: silentLogger(),
    auditLog: { destination: () => undefined },
    onRoutedCall: (info) => calls.push(info),
    ...options,
  });
  let served = 0;
  const server = http2.createServer((req, res) => {
    served++;
    host.handler(req, res);
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => (sessions.add(s), s.once("close", () => sessions.delete(s))));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const rig: Rig = {
    host,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    served: () => served,
    calls,
    async close() {
      await host.close();
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  cleanups.push(() => rig.close());
  return rig;
}

async function startProvider(rig: Rig, name = "kv", onCall?: (method: string, subject: string | undefined) => void): Promise<Plugin> {
  const plugin = createPlugin({
    hostUrl: rig.url,
    name,
    version: "1.0.0",
    magicCookie: COOKIE,
    // The host app enrols the plugin it starts by hand.
    enrolmentToken: (await rig.host.issueEnrolmentToken(name)).token,
    provides: [provide(KVService, createKvService(name, onCall ? { onCall } : {}))],
    logger: silentLogger(),
    shutdownSignals: false,
    heartbeatMs: 0,
  });
  await plugin.start();
  cleanups.push(() => plugin.stop());
  return plugin;
}

describe("host.client with a launched plugin", () => {
  let launcher: Launcher | undefined;
  afterEach(async () => {
    await launcher?.stopAll();
    launcher = undefined;
  });

  it.each(["connect", "grpc", "grpc-web"] as const)("calls the launched kv provider over %s: unary, server stream, trailers; never through the host's server", async (protocol) => {
    const rig = await startHost();
    launcher = createLauncher({ host: rig.host, hostUrl: rig.url, logger: silentLogger() });
    await launcher.start({
      name: "kv-provider",
      command: process.execPath,
      args: ["--import", "tsx", KV_MAIN],
      cwd: REPO_ROOT,
      env: { PLUGBOARD_COOKIE_KEY: COOKIE.key, PLUGBOARD_COOKIE_VALUE: COOKIE.value },
      provides: ["kv.v1.KVService"],
      startTimeoutMs: 15_000,
    });
    const [provider] = await rig.host.waitFor(KVService, { timeoutMs: 10_000 });
    expect(provider?.pluginName).toBe("kv-provider");

    const before = rig.served();
    const kv = rig.host.client(KVService, { protocol });
    let trailer: string | null = null;
    await kv.put({ key: "a/1", value: bytes("one") }, { onTrailer: (t) => (trailer = t.get(KV_TRAILER)) });
    await kv.put({ key: "a/2", value: bytes("two") });
    expect(trailer).toBe("kv-provider");
    expect(text((await kv.get({ key: "a/1" })).value)).toBe("one");
    const listed: string[] = [];
    for await (const item of kv.list({ prefix: "a/" })) listed.push(item.key);
    expect(listed.sort()).toEqual(["a/1", "a/2"]);
    expect(rig.served()).toBe(before); // not one request went through the host's own server

    const done = rig.calls.filter((c) => c.caller?.subject === "host");
    expect(done.map((c) => [c.method, c.code, c.runtimeId])).toEqual([
      ["Put", "ok", provider!.runtimeId],
      ["Put", "ok", provider!.runtimeId],
      ["Get", "ok", provider!.runtimeId],
      ["List", "ok", provider!.runtimeId],
    ]);
    expect(rig.host.inFlight(provider!.runtimeId)).toBe(0);
  });
});

describe("host.client decisions", () => {
  it("the provider sees the host as caller; pin picks the provider; an error keeps its code", async () => {
    const rig = await startHost();
    const seen: (string | undefined)[] = [];
    const a = await startProvider(rig, "kv-a", (_m, subject) => seen.push(subject));
    const b = await startProvider(rig, "kv-b");
    const pinned = rig.host.client(KVService, { pin: b.runtimeId });
    let servedBy: string | null = null;
    for (let i = 0; i < 3; i++) await pinned.get({ key: "x" }, { onTrailer: (t) => (servedBy = t.get(KV_TRAILER)) });
    expect(servedBy).toBe("kv-b");
    await rig.host.client(KVService, { pin: a.runtimeId }).get({ key: "x" });
    expect(seen).toEqual(["host"]);
    const missing = await codeOf(rig.host.client(KVService, { pin: "rt_nobody" }).get({ key: "x" }));
    expect(missing).toBe(Code.Unavailable);
  });

  it("policy and RBAC restrict what the host app may call", async () => {
    const denied = await startHost({ policy: { mayHostCall: (_service, method) => method === "Get" } });
    await startProvider(denied);
    const kv = denied.host.client(KVService);
    expect(await codeOf(kv.get({ key: "x" }))).toBe("ok");
    expect(await codeOf(kv.put({ key: "x", value: bytes("v") }))).toBe(Code.PermissionDenied);
    expect(denied.calls.at(-1)).toMatchObject({ method: "Put", code: "permission_denied" });

    // With RBAC, the host app is the subject "host" and needs a binding like any caller.
    const rbac = createRbac({
      roles: { reader: { allow: ["call:kv.v1.KVService/Get"] }, plugin: { allow: ["register:*", "discover:*"] } },
      bindings: [{ subject: "host", role: "reader" }],
    });
    const governed = await startHost({ rbac, runtimeRoles: () => ["plugin"] });
    await startProvider(governed);
    const viaRbac = governed.host.client(KVService);
    expect(await codeOf(viaRbac.get({ key: "x" }))).toBe("ok");
    expect(await codeOf(viaRbac.put({ key: "x", value: bytes("v") }))).toBe(Code.PermissionDenied);
  });

  it("waitFor resolves when a provider arrives; watch sees it come and go", async () => {
    const rig = await startHost();
    const controller = new AbortController();
    const events: string[] = [];
    const watching = (async () => {
      for await (const e of rig.host.watch(KVService, { signal: controller.signal })) {
        events.push(e.type === "snapshot" ? `snapshot:${e.registrations.length}` : `${e.type}:${e.registration.pluginName}`);
      }
    })();
    const waiting = rig.host.waitFor(KVService, { timeoutMs: 15_000 });
    const provider = await startProvider(rig, "late");
    const found = await waiting;
    expect(found.map((r) => r.pluginName)).toEqual(["late"]);
    expect((await rig.host.discover(KVService)).map((r) => r.runtimeId)).toEqual([provider.runtimeId]);
    await provider.stop();
    await expect.poll(() => events, { timeout: 10_000 }).toEqual(["snapshot:0", "added:late", "removed:late"]);
    controller.abort();
    await watching;
  });
});
