import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { COOKIE } from "../../helpers/host.js";
import { killGroup, spawnTs, waitForLine } from "../../helpers/processes.js";
import { makeTempDir } from "../../helpers/temp-dirs.js";

const CLI = "src/cli/main.ts";
let child: ChildProcess | undefined;
afterEach(async () => {
  if (child) await killGroup(child);
  child = undefined;
});

/** A plugin that logs like pino, prints a stack trace to stderr and exits (the host keeps serving). */
const NOISY_PLUGIN = `
console.log(JSON.stringify({ level: 40, time: 1, pid: 1, hostname: "plugin-box", msg: "disk almost full", freeBytes: 5, audit: true }));
console.log("plain text line");
console.error(new Error("boom").stack);
process.exitCode = 3;
`;

/** Resolves once every predicate matches one of the lines seen so far (the plugin's output may follow "ready"). */
async function linesMatching(lines: string[], wanted: ((line: string) => boolean)[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!wanted.every((accept) => lines.some(accept))) {
    if (Date.now() > deadline) throw new Error(`missing log lines after ${timeoutMs} ms; got:\n${lines.join("\n")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startHost(args: string[]): Promise<{ lines: string[]; ready: string }> {
  const dir = makeTempDir("pb-logs-");
  await writeFile(join(dir, "noisy.mjs"), NOISY_PLUGIN);
  await writeFile(
    join(dir, "host.yaml"),
    JSON.stringify({ listen: { port: 0 }, magicCookie: COOKIE, plugins: [{ name: "noisy", command: process.execPath, args: [join(dir, "noisy.mjs")], restart: "never" }] }),
  );
  child = spawnTs(CLI, ["host", "--config", join(dir, "host.yaml"), ...args]);
  const lines: string[] = [];
  child.stdout!.on("data", (d: Buffer) => lines.push(...d.toString().split("\n").filter(Boolean)));
  const ready = await waitForLine(child, (l) => l.includes("plugboard host ready"));
  return { lines, ready };
}

describe("plugboard host logs", () => {
  it("JSON: the plugin's records are its own (level, message, fields, tagged), its stack trace one record, audit lines marked", async () => {
    const { lines } = await startHost([]);
    // The plugin's lines are read and relayed as it writes them: wait for each one, they may come after "ready".
    await linesMatching(lines, [
      (l) => l.includes("disk almost full"),
      (l) => l.includes("plain text line"),
      (l) => l.includes("Error: boom"),
      (l) => l.includes('"audit":true') && l.includes('"event":"plugin.'),
    ]);
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const own = records.find((r) => r["msg"] === "disk almost full");
    expect(own).toMatchObject({ level: 40, plugin: "noisy", stream: "stdout", freeBytes: 5, pid: expect.any(Number) });
    expect(own!["hostname"]).not.toBe("plugin-box");
    expect(own!["audit"]).toBeUndefined();
    expect(records.find((r) => r["msg"] === "plain text line")).toMatchObject({ level: 30, plugin: "noisy" });
    const trace = records.find((r) => String(r["msg"]).startsWith("Error: boom"));
    expect(trace).toMatchObject({ level: 50, plugin: "noisy", stream: "stderr", stackTrace: true });
    expect(String(trace!["msg"])).toMatch(/\n\s+at /);
    expect(records.some((r) => /^\s+at /.test(String(r["msg"])))).toBe(false);
    const audit = records.find((r) => r["audit"] === true && String(r["event"]).startsWith("plugin."));
    expect(audit).toMatchObject({ level: expect.any(Number) });
  });

  it("--pretty: human-readable lines through pino-pretty", async () => {
    const { ready } = await startHost(["--pretty"]);
    expect(ready).toMatch(/INFO.*plugboard host ready/);
    expect(() => JSON.parse(ready)).toThrow();
  });
});
