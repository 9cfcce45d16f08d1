import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_COOKIE } from "../../../examples/cookie.js";
import { createPlugin } from "../../../src/sdk/index.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { pluginOptions } from "./harness.js";

/** Runs the kv-provider example as a real process (node itself, no wrapper) and collects how it ended. */
function runExample(env: Record<string, string | undefined>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const base = { ...process.env };
    for (const key of Object.keys(base)) if (key.startsWith("PLUGBOARD_")) delete base[key];
    const child = spawn(process.execPath, ["--import", "tsx", "examples/kv-provider/main.ts"], {
      env: { ...base, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    // A plugin that started by mistake is stopped, so the test cannot hang or leak it.
    const guard = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("exit", (code) => {
      clearTimeout(guard);
      resolve({ code, stderr, stdout });
    });
  });
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const oneLine = (stderr: string) => {
  const lines = stderr.split("\n").filter(Boolean);
  expect(lines).toHaveLength(1);
  expect(stderr).not.toMatch(/\.ts:\d+|at .*\(|Unhandled|node:internal/);
  return lines[0]!;
};

describe("a plugin that cannot start says why in one line and exits non-zero", () => {
  let open: TestHost;
  let strict: TestHost;
  beforeAll(async () => {
    open = await startTestHost({ magicCookie: EXAMPLE_COOKIE });
    strict = await startTestHost({ magicCookie: EXAMPLE_COOKIE, requireLaunchSecret: true });
  });
  afterAll(async () => {
    await open?.close();
    await strict?.close();
  });

  it("wrong magic cookie: names the cookie and the fix, exit 2", async () => {
    const r = await runExample({ PLUGBOARD_HOST_URL: open.url, PLUGBOARD_COOKIE_VALUE: "not-the-hosts" });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/^plugin kv-provider failed to start: magic cookie mismatch.* — .*magicCookie/);
  });

  it("host down: says it could not reach the host at its URL, exit 1", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const r = await runExample({ PLUGBOARD_HOST_URL: url });
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(new RegExp(`^plugin kv-provider failed to start: .* — is the host running at ${url}\\?`));
  });

  it("run by hand against a host that admits only launched plugins: explains the launch secret, exit 2", async () => {
    const r = await runExample({ PLUGBOARD_HOST_URL: strict.url });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/launch secret.* — this host only admits plugins it launched/);
  });

  it("run by hand with no host at all: names PLUGBOARD_HOST_URL, exit 2", async () => {
    const r = await runExample({});
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/^plugin kv-provider failed to start: .*PLUGBOARD_HOST_URL/);
  });

  it("embedders still get a rejected start() with a ConnectError", async () => {
    const plugin = createPlugin(pluginOptions(open.url, { name: "embedded", magicCookie: { key: EXAMPLE_COOKIE.key, value: "wrong" } }));
    const error = await plugin.start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.FailedPrecondition);
  });

  it("the example still starts against the right host (prints ready)", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "examples/kv-provider/main.ts"], {
      env: { ...process.env, PLUGBOARD_HOST_URL: open.url, PLUGBOARD_LAUNCH_SECRET: "", PLUGBOARD_ENROLMENT_TOKEN: await open.enrol("kv-provider") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("\n")) resolve(out);
        });
        child.once("exit", (code) => reject(new Error(`exited ${code}`)));
      });
      expect(line).toMatch(/^ready rt_/);
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once("exit", r)));
    }
  });
});
