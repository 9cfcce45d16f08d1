import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { HandshakeService } from "../../../gen/plugboard/v1/handshake_pb.js";
import { EXAMPLE_COOKIE } from "../../../examples/cookie.js";
import { createTransports } from "../../helpers/transports.js";
import { COOKIE, handshakeRequest } from "../../helpers/host.js";

/** `plugboard host` as node itself (no tsx wrapper), leading its own process group so cleanup reaches everything. */
interface HostProcess {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
  waitFor(accept: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

let dir: string | undefined;
let running: HostProcess | undefined;
afterEach(async () => {
  if (running && running.child.exitCode === null && running.child.signalCode === null) {
    process.kill(-running.child.pid!, "SIGTERM");
    const timer = setTimeout(() => process.kill(-running!.child.pid!, "SIGKILL"), 10_000);
    await running.exited;
    clearTimeout(timer);
  }
  running = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function startHost(config: object): Promise<HostProcess> {
  dir = await mkdtemp(join(tmpdir(), "pb-cli-failure-"));
  const file = join(dir, "host.json");
  await writeFile(file, JSON.stringify(config));
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "host", "--config", file], {
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on("line", (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      lines.push({ msg: line });
    }
    for (const wake of waiters) wake();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const host: HostProcess = {
    child,
    lines,
    exited,
    waitFor: (accept, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find(accept);
          if (!found) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching log line within ${timeoutMs} ms; got: ${lines.map((l) => l["msg"]).join(" | ")}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
  };
  running = host;
  return host;
}

const kvProvider = {
  name: "kv-provider",
  command: process.execPath,
  args: ["--import", "tsx", "examples/kv-provider/main.ts"],
  inheritEnv: ["PATH"],
};
const crasher = {
  name: "crasher",
  command: process.execPath,
  args: ["-e", "process.exit(7)"],
  restart: { policy: "on-failure", initialDelayMs: 10, maxDelayMs: 50, maxRestarts: 2 },
};

/** GET over h2c on the host's main port (ops endpoints are served there by default). */
async function metricsOf(url: string): Promise<string> {
  const session = http2.connect(url);
  try {
    return await new Promise<string>((resolve, reject) => {
      const req = session.request({ ":path": "/metrics" });
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (d: string) => (body += d));
      req.on("end", () => resolve(body));
      req.on("error", reject);
      req.end();
    });
  } finally {
    session.close();
  }
}

describe("plugboard host with a plugin that gives up", () => {
  it("reports it (log, audit, metrics) and keeps serving the others", async () => {
    // Unproven names allowed, so the check below can admit a stranger by hand (what matters is that the host still serves).
    const h = await startHost({ listen: { port: 0 }, magicCookie: EXAMPLE_COOKIE, allowUnprovenNames: true, plugins: [kvProvider, crasher] });
    const ready = await h.waitFor((l) => l["msg"] === "plugboard host ready");
    expect(ready["failedPlugins"]).toEqual(["crasher"]);
    const url = ready["url"] as string;
    // Reported: the give-up at error level, the audit record, the warning that the host carries on.
    expect(h.lines).toContainEqual(expect.objectContaining({ plugin: "crasher", level: 50, msg: expect.stringMatching(/gave up/) }));
    expect(h.lines).toContainEqual(expect.objectContaining({ event: "plugin.restart", outcome: "failure", target: expect.stringMatching(/^crasher/) }));
    expect(h.lines).toContainEqual(expect.objectContaining({ plugin: "crasher", state: "gave-up", msg: expect.stringMatching(/keeps serving/) }));

    const metrics = await metricsOf(url);
    expect(metrics).toContain('plugboard_launched_plugins{plugin="crasher",state="gave-up"} 1');
    expect(metrics).toContain('plugboard_launched_plugins{plugin="kv-provider",state="ready"} 1');
    expect(metrics).toMatch(/plugboard_registrations\{service="kv.v1.KVService"\} 1/);

    // Still serving: a new plugin is admitted.
    const transports = createTransports(url);
    try {
      const res = await createClient(HandshakeService, transports.make("connect")).handshake(
        handshakeRequest({ magicCookieKey: EXAMPLE_COOKIE.key, magicCookieValue: EXAMPLE_COOKIE.value, pluginName: "late" }),
      );
      expect(res.runtimeId).toMatch(/^rt_/);
    } finally {
      transports.close();
    }
    expect(h.child.exitCode).toBeNull();
    process.kill(h.child.pid!, "SIGTERM");
    expect(await h.exited).toBe(0);
  });

  it("with exitOnPluginFailure: true the host stops and exits non-zero", async () => {
    const h = await startHost({ listen: { port: 0 }, magicCookie: EXAMPLE_COOKIE, exitOnPluginFailure: true, plugins: [crasher] });
    const code = await h.exited;
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    expect(h.lines).toContainEqual(expect.objectContaining({ plugin: "crasher", level: 50, msg: expect.stringMatching(/gave up/) }));
  });

  it("with exitOnPluginFailure: true a plugin giving up after it was ready also stops the host, exit 1", async () => {
    // The protocol-only fixture registers, then crashes (its crash marker cannot be written): ready, crash, ready, crash...
    const crashAfterReady = {
      name: "flaky",
      command: process.execPath,
      args: ["--import", "tsx", "test/fixtures/launcher/plugin.ts"],
      env: { FIXTURE_NAME: "flaky", FIXTURE_CRASH_ONCE: "/nonexistent-dir/crash-marker" },
      restart: { policy: "on-failure", initialDelayMs: 10, maxDelayMs: 50, maxRestarts: 1 },
    };
    const h = await startHost({ listen: { port: 0 }, magicCookie: COOKIE, exitOnPluginFailure: true, plugins: [crashAfterReady] });
    await h.waitFor((l) => l["msg"] === "plugboard host ready");
    expect(await h.exited).toBe(1);
    expect(h.lines).toContainEqual(
      expect.objectContaining({ level: 60, plugin: "flaky", state: "gave-up", msg: expect.stringMatching(/exitOnPluginFailure/) }),
    );
  });
});
