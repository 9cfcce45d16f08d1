/**
 * Sandboxed plugin processes, launched by the real launcher as a host would: a sandboxed plugin
 * still handshakes, registers and serves, but cannot read outside its allow-list, cannot start a
 * process, is restarted (and audited) when it passes its memory ceiling, and under bubblewrap
 * cannot write outside its writable paths — while the same plugin unsandboxed can do all of it.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { findExecutable, groupResidentBytes } from "../../../src/sandbox/index.js";
import type { PluginSpec } from "../../../src/launcher/index.js";
import { COOKIE } from "../../helpers/host.js";
import { REPO_ROOT, startLauncherHarness, waitFor, type LauncherHarness } from "./harness.js";

const PROBE = fileURLToPath(new URL("../../fixtures/sandbox/probe-plugin.mjs", import.meta.url));

let dir: string;
let secretFile: string;
beforeAll(() => {
  // The probe runs the built SDK (plain JavaScript), which test/global-setup.ts builds before any test.
  dir = mkdtempSync(join(tmpdir(), "pb-sandbox-"));
  secretFile = join(dir, "outside.txt");
  writeFileSync(secretFile, "not for plugins");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let h: LauncherHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function probeSpec(name: string, env: Record<string, string>, extra: Partial<PluginSpec> = {}): PluginSpec {
  return {
    name,
    command: process.execPath,
    args: [PROBE],
    cwd: REPO_ROOT,
    env: { PROBE_NAME: name, PROBE_COOKIE_KEY: COOKIE.key, PROBE_COOKIE_VALUE: COOKIE.value, ...env },
    provides: ["kv.v1.KVService"],
    startTimeoutMs: 15_000,
    stopGraceMs: 2_000,
    ...extra,
  };
}

/** The plugin's PROBE lines, by probe name. */
function probes(harness: LauncherHarness, plugin: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of harness.logs) {
    if (r.plugin !== plugin || r.stream !== "stdout" || !String(r.msg).startsWith("PROBE ")) continue;
    const { probe, outcome } = JSON.parse(String(r.msg).slice(6)) as { probe: string; outcome: string };
    out[probe] = outcome;
  }
  return out;
}

const nodeSandbox = () => ({ node: { fsRead: [REPO_ROOT] } });

describe("Node permission model", () => {
  it("a sandboxed plugin serves, but cannot read outside its allow-list nor start a process; unsandboxed it can", async () => {
    h = await startLauncherHarness();
    const env = { PROBE_READ: secretFile, PROBE_SPAWN: "1" };
    await h.launcher.start(probeSpec("open", env));
    await h.launcher.start(probeSpec("boxed", env, { sandbox: nodeSandbox() }));
    const harness = h;
    await waitFor("probe reports", () => Object.keys(probes(harness, "open")).length === 2 && Object.keys(probes(harness, "boxed")).length === 2, 15_000);
    expect(probes(h, "open")).toEqual({ read: "ok", spawn: "ok" });
    expect(probes(h, "boxed")).toEqual({ read: "ERR_ACCESS_DENIED", spawn: "ERR_ACCESS_DENIED" });
    // Both are ready: handshook under their launch secret and registered their service from inside the sandbox.
    expect(h.launcher.list().map((s) => [s.name, s.state])).toEqual([
      ["open", "ready"],
      ["boxed", "ready"],
    ]);
  });
});

describe("memory ceiling", () => {
  it("a plugin past its ceiling is killed, audited and restarted; without a ceiling the same plugin grows undisturbed", async () => {
    h = await startLauncherHarness();
    const ceiling = 160 * 2 ** 20;
    const hog = { PROBE_HOG_MB: "320" }; // twice the ceiling
    await h.launcher.start(probeSpec("free", hog));
    await h.launcher.start(
      probeSpec("hog", hog, { sandbox: { memoryCeilingBytes: ceiling, memoryCheckIntervalMs: 100 }, restart: { policy: "on-failure", initialDelayMs: 50 } }),
    );
    const harness = h;
    const audit = await waitFor("memory-ceiling audit", () => harness.audits.find((a) => a.event === "plugin.memory-ceiling"), 30_000);
    expect(audit.outcome).toBe("failure");
    expect(audit.target).toMatch(/^hog pid=\d+$/);
    expect(audit.reason).toMatch(/^memory ceiling: \d+ bytes resident, ceiling 167772160$/);
    const hogStatus = () => harness.launcher.list().find((s) => s.name === "hog")!;
    await waitFor("restart", () => hogStatus().restarts >= 1, 15_000);
    expect(h.audits.some((a) => a.event === "plugin.restart" && a.outcome === "success" && String(a.target).startsWith("hog"))).toBe(true);
    // The unconfined one grew past the same size and was left alone.
    await waitFor("free plugin grown", () => probes(harness, "free")["hog"] === "ok", 30_000);
    const free = h.launcher.list().find((s) => s.name === "free")!;
    expect(groupResidentBytes(free.pid!)).toBeGreaterThan(ceiling);
    expect(free).toMatchObject({ state: "ready", restarts: 0 });
  });
});

/** bubblewrap may be installed yet unable to make namespaces (no user namespaces, no privileges). */
function bubblewrapWorks(): boolean {
  const bwrap = findExecutable("bwrap");
  if (!bwrap) return false;
  try {
    execFileSync(bwrap, ["--die-with-parent", "--unshare-pid", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--", "/bin/true"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!bubblewrapWorks())("bubblewrap namespaces", () => {
  it("a plugin that lives under /tmp still runs: the private /tmp binds its directory back, read-only", async () => {
    // A checkout or unpacked bundle under /tmp (CI clones often are): hidden by the sandbox's own /tmp unless bound back.
    const home = mkdtempSync(join("/tmp", "pb-sandbox-plugin-"));
    try {
      const dist = pathToFileURL(join(REPO_ROOT, "dist")).href;
      writeFileSync(join(home, "probe.mjs"), readFileSync(PROBE, "utf8").replaceAll("../../../dist", dist));
      symlinkSync(join(REPO_ROOT, "node_modules"), join(home, "node_modules"));
      const writable = join(home, "data");
      mkdirSync(writable);
      h = await startLauncherHarness();
      await h.launcher.start({
        ...probeSpec(
          "tmp-home",
          { PROBE_WRITE: join(home, "escape.txt"), PROBE_WRITE_OK: join(writable, "inside.txt"), PROBE_READ: `/proc/${process.pid}/status` },
          { sandbox: { namespaces: { writable: [writable] } } },
        ),
        // The second path is what the probe imports (the built SDK); it matters when the checkout itself is under /tmp.
        args: [join(home, "probe.mjs"), REPO_ROOT],
        cwd: home,
      });
      const harness = h;
      await waitFor("probe reports", () => Object.keys(probes(harness, "tmp-home")).length === 3, 15_000);
      expect(probes(h, "tmp-home")).toEqual({ write: "EROFS", "write-ok": "ok", read: "ENOENT" });
      expect(h.launcher.list()[0]!.state).toBe("ready");
    } finally {
      await h?.close();
      h = undefined;
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("the plugin serves from inside, writes only its writable paths, and sees none of the host's processes", async () => {
    h = await startLauncherHarness();
    const writable = mkdtempSync(join(dir, "writable-"));
    await h.launcher.start(
      probeSpec(
        "ns",
        { PROBE_WRITE: join(REPO_ROOT, "pb-sandbox-escape.txt"), PROBE_WRITE_OK: join(writable, "inside.txt"), PROBE_READ: `/proc/${process.pid}/status` },
        { sandbox: { namespaces: { writable: [writable] } } },
      ),
    );
    const harness = h;
    await waitFor("probe reports", () => Object.keys(probes(harness, "ns")).length === 3, 15_000);
    expect(probes(h, "ns")).toEqual({ write: "EROFS", "write-ok": "ok", read: "ENOENT" });
    expect(existsSync(join(writable, "inside.txt"))).toBe(true);
    expect(existsSync(join(REPO_ROOT, "pb-sandbox-escape.txt"))).toBe(false);
    expect(h.launcher.list()[0]!.state).toBe("ready");
  });
});
