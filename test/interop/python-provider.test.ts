/**
 * A real grpcio plugin (examples/python-provider) admitted by the host and called by SDK-style
 * consumers over Connect, gRPC and gRPC-Web (grpcio speaks gRPC only: the router translates);
 * a grpcio consumer calling a TypeScript provider; `buf curl --reflect` reaching the Python
 * service through the host. Needs Debian's python3-grpcio, python3-protobuf and python3-grpc-tools
 * under /usr/bin/python3 (.ci/run installs them).
 */
import { execFileSync, type ChildProcess } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KVService } from "../../gen/kv/v1/kv_pb.js";
import { Protocol } from "../../gen/plugboard/v1/common_pb.js";
import { startKvProvider } from "../helpers/kv-provider.js";
import { exitOf, killGroup, runCommand, spawnGroup, waitForLine } from "../helpers/processes.js";
import { makeTempDir } from "../helpers/temp-dirs.js";
import { bearer, createTransports, type ProtocolName } from "../helpers/transports.js";
import { COOKIE, startTestHost, type TestHost } from "../helpers/host.js";

const PYTHON = "/usr/bin/python3";
const ROOT = new URL("../../", import.meta.url).pathname;
const KV = KVService.typeName;

function pythonReady(): boolean {
  try {
    execFileSync(PYTHON, ["-c", "import grpc, google.protobuf, grpc_tools.protoc"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
// In CI the packages are installed: a missing one fails the run instead of skipping it.
const ready = pythonReady();
if (!ready && process.env["CI"]) throw new Error(`${PYTHON} lacks grpcio / protobuf / grpc_tools (apt-get install python3-grpcio python3-protobuf python3-grpc-tools)`);

/** Python stubs of plugboard/v1 and kv/v1 only (the host's health.proto is not needed), in a temp dir. */
function generateStubs(): string {
  const out = makeTempDir("pb-py-stubs-");
  const plugboard = readdirSync(join(ROOT, "proto/plugboard/v1")).filter((f) => f.endsWith(".proto")).map((f) => `proto/plugboard/v1/${f}`);
  execFileSync(PYTHON, ["-m", "grpc_tools.protoc", "-Iproto", "-Iexamples/proto", `--python_out=${out}`, `--grpc_python_out=${out}`, ...plugboard, "examples/proto/kv/v1/kv.proto"], { cwd: ROOT, stdio: "pipe" });
  return out;
}

describe.skipIf(!ready)("Python (grpcio) plugins and Plugboard", () => {
  let t: TestHost;
  let stubs: string;
  let provider: ChildProcess;
  let runtimeId: string;
  let consumerToken: string;
  let transports: ReturnType<typeof createTransports>;

  beforeAll(async () => {
    stubs = generateStubs();
    t = await startTestHost();
    transports = createTransports(t.url);
    provider = spawnGroup(PYTHON, [join(ROOT, "examples/python-provider/provider.py")], {
      env: {
        PATH: process.env["PATH"] ?? "/usr/bin:/bin",
        PYTHONPATH: stubs,
        PLUGBOARD_HOST_URL: t.url,
        PLUGBOARD_LAUNCH_SECRET: t.host.issueLaunchSecret("py-kv"),
        PLUGBOARD_PLUGIN_PORT: "0",
        PLUGBOARD_PARENT_PID: String(process.pid),
        PLUGBOARD_MAGIC_COOKIE_KEY: t.host.magicCookie.key,
        PLUGBOARD_MAGIC_COOKIE_VALUE: t.host.magicCookie.value,
      },
    });
    const ready = JSON.parse(await waitForLine(provider, (l) => l.startsWith("{") && l.includes('"ready"'), 30_000)) as { runtimeId: string };
    runtimeId = ready.runtimeId;
    consumerToken = (await t.handshake({ pluginName: "consumer", requires: [{ type: KV }] })).token;
  }, 60_000);
  afterAll(async () => {
    transports?.close();
    if (provider) await killGroup(provider);
    await t?.close();
  });

  it("is admitted and registered as gRPC-only, with its descriptors", async () => {
    const found = await t.clients("connect").registry.discover({ serviceType: KV }, bearer(consumerToken));
    expect(found.providers.map((p) => [p.runtimeId, p.protocols])).toEqual([[runtimeId, [Protocol.GRPC]]]);
  });

  describe.each(["connect", "grpc", "grpc-web"] as ProtocolName[])("an SDK-style consumer over %s", (protocol) => {
    it("unary: answer, signed caller, trailers, errors", async () => {
      const kv = createClient(KVService, transports.make(protocol));
      await kv.put({ key: protocol, value: new TextEncoder().encode(`v-${protocol}`) }, bearer(consumerToken));
      let trailer: string | null = null;
      const res = await kv.get({ key: protocol }, { ...bearer(consumerToken), onTrailer: (h) => (trailer = h.get("x-served-by")) });
      expect(new TextDecoder().decode(res.value)).toBe(`v-${protocol}`);
      expect(res.caller).toMatch(/^runtime:/);
      expect(trailer).toBe("python");
      const err = await kv.get({ key: "missing" }, bearer(consumerToken)).catch((e) => ConnectError.from(e));
      expect((err as ConnectError).code).toBe(Code.NotFound);
      expect((err as ConnectError).rawMessage).toBe("no such key: missing");
    });

    it("server streaming: messages, trailer, an error after messages, a deadline", async () => {
      const kv = createClient(KVService, transports.make(protocol));
      const keys: string[] = [];
      let trailer: string | null = null;
      for await (const r of kv.list({ prefix: "p" }, { ...bearer(consumerToken), onTrailer: (h) => (trailer = h.get("x-served-by")) })) keys.push(r.key);
      expect(keys).toEqual(["p0", "p1", "p2"]);
      expect(trailer).toBe("python");
      const got: string[] = [];
      const failed = await (async () => {
        for await (const r of kv.list({ prefix: "fail" }, bearer(consumerToken))) got.push(r.key);
      })().catch((e) => ConnectError.from(e));
      expect((failed as ConnectError).code).toBe(Code.FailedPrecondition);
      expect(got).toEqual(["fail0", "fail1", "fail2"]);
      const late = await (async () => {
        for await (const _ of kv.list({ prefix: "slow", delayMs: 2_000 }, { ...bearer(consumerToken), timeoutMs: 300 }));
      })().catch((e) => ConnectError.from(e));
      expect((late as ConnectError).code).toBe(Code.DeadlineExceeded);
    });
  });

  it("buf curl --reflect lists the Python service through the host and calls it", async () => {
    const auth = `Authorization: Bearer ${consumerToken}`;
    const curl = async (args: string[]) => {
      const r = await runCommand(join(ROOT, "node_modules/.bin/buf"), ["curl", "--http2-prior-knowledge", "--protocol", "grpc", "-H", auth, "--reflect-header", auth, ...args], { timeoutMs: 30_000 });
      if (r.code !== 0) throw new Error(`buf curl failed: ${r.stdout} ${r.stderr}`);
      return r.stdout;
    };
    expect((await curl(["--list-services", t.url])).split("\n")).toContain(KV);
    const res = JSON.parse(await curl(["-d", JSON.stringify({ key: "grpc" }), `${t.url}/${KV}/Get`])) as Record<string, unknown>;
    expect(res).toMatchObject({ key: "grpc", found: true });
  });

  it("a Python consumer calls a TypeScript provider through the host", async () => {
    const ts = await startKvProvider();
    const host = await startTestHost();
    try {
      const p = await host.handshake({ pluginName: "ts-kv", baseUrl: ts.url, provides: [{ type: KV, version: "1.0.0" }] });
      ts.setKey(p.signingKey);
      await host.clients("connect").registry.register({ serviceType: KV, protocols: [Protocol.GRPC, Protocol.GRPC_WEB, Protocol.CONNECT] }, bearer(p.token));
      const r = await runCommand(PYTHON, [join(ROOT, "examples/python-provider/consumer.py"), "greeting", "hello"], {
        env: { PYTHONPATH: stubs, PLUGBOARD_HOST_URL: host.url, PLUGBOARD_LAUNCH_SECRET: host.host.issueLaunchSecret("py-consumer"), PLUGBOARD_MAGIC_COOKIE_KEY: COOKIE.key, PLUGBOARD_MAGIC_COOKIE_VALUE: COOKIE.value },
        timeoutMs: 30_000,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ key: "greeting", value: "hello", found: true, caller: expect.stringMatching(/^runtime:/), wrongToken: "UNAUTHENTICATED" });
    } finally {
      await host.close();
      await ts.close();
    }
  });

  it("on SIGTERM the provider unregisters and revokes itself", async () => {
    provider.kill("SIGTERM");
    await exitOf(provider);
    expect(await t.host.store.listRegistrations(KV)).toEqual([]);
    expect(await t.host.store.getRuntime(runtimeId)).toBeUndefined();
  });
});
