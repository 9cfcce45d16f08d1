import type { ChildProcess } from "node:child_process";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../../src/launcher/free-port.js";
import { readOwnPackage } from "../../../src/cli/own-package.js";
import { exitOf, killGroup, runCommand, spawnGroup, TSX } from "../../helpers/processes.js";
import { makeTempDir } from "../../helpers/temp-dirs.js";

const REPO_ROOT = resolve(".");
const CLI = resolve("src/cli/main.ts");

const exec = (command: string, args: string[], cwd: string, env: Record<string, string> = {}, timeoutMs = 240_000) =>
  runCommand(command, args, { cwd, env, timeoutMs });

describe("plugboard init and --version", () => {
  let tmp: string;
  let project: string;
  let host: ChildProcess | undefined;

  beforeAll(() => {
    tmp = makeTempDir("pb-init-");
    project = join(tmp, "demo-plugin");
  });
  afterAll(async () => {
    if (host) await killGroup(host);
  });

  it("--version prints the package version", async () => {
    const result = await exec(TSX, [CLI, "--version"], REPO_ROOT);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(readOwnPackage().version);
    expect(result.stdout.trim()).toBe(JSON.parse(await readFile("package.json", "utf8")).version);
  });

  it("scaffolds a project, and refuses to overwrite a non-empty folder", async () => {
    const result = await exec(TSX, [CLI, "init", "demo-plugin", "--plugboard", `file:${REPO_ROOT}`], tmp);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const files = await readdir(project, { recursive: true });
    for (const file of ["package.json", "buf.yaml", "buf.gen.yaml", "proto/demo_plugin/v1/greeter.proto", "src/main.ts", "test/greeter.test.ts", "README.md", "plugboard.yaml"])
      expect(files).toContain(file);
    const pkg = JSON.parse(await readFile(join(project, "package.json"), "utf8"));
    expect(pkg.dependencies).toMatchObject({ plugboard: `file:${REPO_ROOT}`, "@connectrpc/connect": expect.any(String), "@bufbuild/protobuf": expect.any(String) });
    expect(await readFile(join(project, "buf.gen.yaml"), "utf8")).toContain("protoc-gen-es");

    const again = await exec(TSX, [CLI, "init", "demo-plugin"], tmp);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already exists and is not empty");
    const bad = await exec(TSX, [CLI, "init", "Bad Name"], tmp);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("not a usable plugin name");
  });

  it("installs, generates with buf, type-checks and passes its own test", async () => {
    const install = await exec("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], project);
    expect(install.code, install.stderr).toBe(0);
    const typecheck = await exec("npm", ["run", "typecheck"], project);
    expect(typecheck.code, typecheck.stdout + typecheck.stderr).toBe(0);
    expect(await readdir(join(project, "gen/demo_plugin/v1"))).toContain("greeter_pb.ts");
    const test = await exec("npm", ["test"], project);
    expect(test.code, test.stdout + test.stderr).toBe(0);
    expect(test.stdout).toMatch(/# pass 1/);
  }, 400_000);

  it("npm start runs it under plugboard host; npm run call reaches it through the host", async () => {
    // The scaffold listens on 7777; a free port keeps parallel test runs apart.
    const port = await freePort();
    const config = join(project, "plugboard.yaml");
    await writeFile(config, (await readFile(config, "utf8")).replace("port: 7777", `port: ${port}`));
    host = spawnGroup("npm", ["start"], { cwd: project });
    let output = "";
    host.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    host.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    await new Promise<void>((ready, fail) => {
      const timer = setTimeout(() => fail(new Error(`host not ready: ${output}`)), 60_000);
      const check = () => {
        if (output.includes("plugboard host ready")) {
          clearTimeout(timer);
          ready();
        }
      };
      host!.stdout!.on("data", check);
      host!.once("exit", () => fail(new Error(`host exited: ${output}`)));
    });
    expect(output).toMatch(/"plugin":"demo-plugin".*"msg":"plugin ready"/);

    const call = await exec("npm", ["run", "call", "--", "Ada"], project, { PLUGBOARD_HOST_URL: `http://127.0.0.1:${port}` }, 60_000);
    expect(call.code, call.stderr).toBe(0);
    expect(call.stdout).toContain("Hello, Ada!");

    // SIGTERM to the whole group (npm, sh, plugboard host): the host stops its plugin, then exits.
    const exited = exitOf(host);
    process.kill(-host.pid!, "SIGTERM");
    await exited;
    await killGroup(host);
    host = undefined;
  }, 120_000);
});
