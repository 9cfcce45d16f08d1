import { describe, expect, it } from "vitest";
import { resolveSpec } from "../../../src/launcher/spec.js";
import { permissionFlag, resolveSandbox, sandboxCommand, type SandboxSpec } from "../../../src/sandbox/index.js";

const fail = (message: string): never => {
  throw new Error(message);
};
const found = (name: string) => `/usr/bin/${name}`;
const launch = { command: "/usr/bin/node", args: ["main.js"], env: { PLUGBOARD_PARENT_PID: "42", NODE_OPTIONS: "--enable-source-maps" }, cwd: "/srv/kv" };

describe("sandbox spec", () => {
  it("refuses namespaces clearly when bubblewrap is not installed, and limits without prlimit", () => {
    expect(() => resolveSandbox(fail, { namespaces: true }, () => undefined)).toThrow(/bubblewrap \(bwrap\), which is not installed: apt-get install bubblewrap/);
    expect(() => resolveSandbox(fail, { limits: { openFiles: 64 } }, () => undefined)).toThrow(/prlimit/);
  });

  it("refuses relative paths, non-positive limits, and names the field", () => {
    const bad: [SandboxSpec, RegExp][] = [
      [{ node: { fsRead: ["src"] } }, /sandbox\.node\.fsRead: "src" is not an absolute path/],
      [{ node: { fsWrite: ["/a,/b"] } }, /sandbox\.node\.fsWrite/],
      [{ limits: { cpuSeconds: 0 } }, /sandbox\.limits\.cpuSeconds must be a positive integer/],
      [{ memoryCeilingBytes: -1 }, /sandbox\.memoryCeilingBytes/],
      [{ namespaces: { writable: ["tmp"] } }, /sandbox\.namespaces\.writable/],
    ];
    for (const [spec, message] of bad) expect(() => resolveSandbox(fail, spec, found)).toThrow(message);
    expect(() => resolveSpec({ name: "kv", command: "node", sandbox: { node: { fsRead: ["rel"] } } })).toThrow(/plugin "kv": sandbox\.node\.fsRead/);
  });

  it("no sandbox: the command is unchanged", () => {
    expect(sandboxCommand(undefined, launch)).toEqual({ command: launch.command, args: launch.args, env: launch.env });
  });

  it("Node permission flags go into NODE_OPTIONS, keeping what was there; child processes and workers stay off", () => {
    const s = resolveSandbox(fail, { node: { fsRead: ["/srv/kv", "/opt/my dir"], fsWrite: ["/var/kv"], maxOldSpaceMb: 256 } }, found);
    const out = sandboxCommand(s, launch);
    expect(out.command).toBe("/usr/bin/node");
    expect(out.env["NODE_OPTIONS"]).toBe(
      `--enable-source-maps ${permissionFlag()} --allow-fs-read="/srv/kv" --allow-fs-read="/opt/my dir" --allow-fs-write="/var/kv" --max-old-space-size="256"`,
    );
    expect(out.env["NODE_OPTIONS"]).not.toMatch(/allow-child-process|allow-worker/);
    const allowed = sandboxCommand(resolveSandbox(fail, { node: { childProcess: true, worker: true } }, found), launch);
    expect(allowed.env["NODE_OPTIONS"]).toMatch(/--allow-child-process --allow-worker$/);
  });

  it("the permission flag follows the Node major", () => {
    expect(permissionFlag(20)).toBe("--experimental-permission");
    expect(permissionFlag(22)).toBe("--permission");
  });

  it("limits wrap the command in prlimit, namespaces in bwrap, outermost prlimit; the watchdog watches the namespace's init", () => {
    const s = resolveSandbox(fail, { limits: { openFiles: 64, cpuSeconds: 30, addressSpaceBytes: 2 ** 30 }, namespaces: { writable: ["/var/kv"] } }, found);
    const out = sandboxCommand(s, launch);
    expect(out.command).toBe("/usr/bin/prlimit");
    const bwrapAt = out.args.indexOf("/usr/bin/bwrap");
    expect(out.args.slice(0, bwrapAt)).toEqual([`--as=${2 ** 30}`, "--nofile=64", "--cpu=30", "--"]);
    const bwrap = out.args.slice(bwrapAt + 1);
    expect(bwrap).toEqual(expect.arrayContaining(["--die-with-parent", "--unshare-pid", "--ro-bind", "--bind", "/var/kv", "--chdir", "/srv/kv"]));
    expect(bwrap).not.toContain("--new-session"); // the launcher's process-group signals must still reach it
    expect(bwrap).not.toContain("--unshare-net"); // the plugin must reach the host
    expect(bwrap.slice(bwrap.indexOf("--") + 1)).toEqual(["/usr/bin/node", "main.js"]);
    expect(out.env["PLUGBOARD_PARENT_PID"]).toBe("1");
  });
});
