import { existsSync } from "node:fs";
import { isAbsolute } from "node:path";
import type { ResolvedSandbox } from "./spec.js";

export interface LaunchCommand {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/** Node's permission flag: experimental on Node 20, stable as `--permission` from Node 22. */
export function permissionFlag(nodeMajor: number = Number(process.versions.node.split(".")[0])): string {
  return nodeMajor >= 22 ? "--permission" : "--experimental-permission";
}

/** NODE_OPTIONS text: double quotes keep paths with spaces whole. */
function nodeOption(flag: string, value?: string): string {
  return value === undefined ? flag : `${flag}="${value.replace(/(["\\])/g, "\\$1")}"`;
}

function nodeOptions(node: NonNullable<ResolvedSandbox["node"]>): string[] {
  return [
    nodeOption(permissionFlag()),
    ...node.fsRead.map((p) => nodeOption("--allow-fs-read", p)),
    ...node.fsWrite.map((p) => nodeOption("--allow-fs-write", p)),
    ...(node.childProcess ? [nodeOption("--allow-child-process")] : []),
    ...(node.worker ? [nodeOption("--allow-worker")] : []),
    ...(node.maxOldSpaceMb !== undefined ? [nodeOption("--max-old-space-size", String(node.maxOldSpaceMb))] : []),
  ];
}

function prlimitArgs(limits: ResolvedSandbox["limits"]): string[] {
  return [
    ...(limits.addressSpaceBytes !== undefined ? [`--as=${limits.addressSpaceBytes}`] : []),
    ...(limits.openFiles !== undefined ? [`--nofile=${limits.openFiles}`] : []),
    ...(limits.cpuSeconds !== undefined ? [`--cpu=${limits.cpuSeconds}`] : []),
  ];
}

/**
 * bubblewrap: read-only view of the file system, private /tmp and /dev, own PID, IPC and UTS
 * namespaces; the sandbox dies with the host (`--die-with-parent`). No `--new-session`, so the
 * launcher's process-group signals still reach it. The private /tmp would hide a plugin that lives
 * under /tmp (a checkout or an unpacked bundle there): its working directory and the absolute paths
 * of its command line are bound back, read-only.
 */
function bwrapArgs(writable: string[], cwd: string | undefined, argv: string[]): string[] {
  const underTmp = [cwd, ...argv].filter((p): p is string => p !== undefined && isAbsolute(p) && p.startsWith("/tmp/") && existsSync(p));
  return [
    "--die-with-parent",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--ro-bind", "/", "/",
    "--dev", "/dev",
    "--proc", "/proc",
    "--tmpfs", "/tmp",
    ...[...new Set(underTmp)].flatMap((p) => ["--ro-bind", p, p]),
    ...writable.flatMap((p) => ["--bind", p, p]),
    ...(cwd ? ["--chdir", cwd] : []),
    "--",
  ];
}

/**
 * Wraps a plugin's command in its sandbox: `prlimit … -- bwrap … -- <command>`, with the Node
 * permission flags in NODE_OPTIONS. Inside bubblewrap's PID namespace the host's pid does not
 * exist, so the plugin's parent watchdog watches the namespace's init (pid 1), which bubblewrap
 * ends when the host dies.
 */
export function sandboxCommand(sandbox: ResolvedSandbox | undefined, launch: LaunchCommand & { cwd: string | undefined }): LaunchCommand {
  if (!sandbox) return { command: launch.command, args: launch.args, env: launch.env };
  const env = { ...launch.env };
  if (sandbox.node) env["NODE_OPTIONS"] = [env["NODE_OPTIONS"], ...nodeOptions(sandbox.node)].filter(Boolean).join(" ");
  let argv = [launch.command, ...launch.args];
  if (sandbox.namespaces) {
    argv = [sandbox.namespaces.bwrap, ...bwrapArgs(sandbox.namespaces.writable, launch.cwd, argv), ...argv];
    env["PLUGBOARD_PARENT_PID"] = "1";
  }
  if (sandbox.prlimit) argv = [sandbox.prlimit, ...prlimitArgs(sandbox.limits), "--", ...argv];
  return { command: argv[0]!, args: argv.slice(1), env };
}
