import { isAbsolute } from "node:path";
import { findExecutable } from "./executables.js";

/**
 * How a launched plugin is confined. Each layer is optional and independent; what each one does
 * and does not stop is in docs/launcher.md ("Sandboxing").
 */
export interface SandboxSpec {
  /**
   * Node's permission model, for plugins that run on Node (applied through NODE_OPTIONS, so it
   * also holds for `node` started by a wrapper script). File-system access outside the
   * allow-lists is refused; child processes and worker threads are refused unless allowed.
   */
  node?: {
    /** Absolute paths the plugin may read: its code and node_modules at least. */
    fsRead?: string[];
    /** Absolute paths the plugin may write. Default none. */
    fsWrite?: string[];
    /** Default false. */
    childProcess?: boolean;
    /** Default false. */
    worker?: boolean;
    /** V8 old-space ceiling (`--max-old-space-size`), in MiB. */
    maxOldSpaceMb?: number;
  };
  /** Kernel resource limits (setrlimit, through util-linux `prlimit`), inherited by the plugin's children. */
  limits?: {
    /** RLIMIT_AS in bytes. Node reserves far more address space than it uses: prefer `memoryCeilingBytes` for Node. */
    addressSpaceBytes?: number;
    /** RLIMIT_NOFILE. */
    openFiles?: number;
    /** RLIMIT_CPU, in seconds of CPU time: the kernel kills the plugin past it. */
    cpuSeconds?: number;
  };
  /** Resident memory of the plugin's process group; past it the plugin is killed, audited and restarted by its restart policy. */
  memoryCeilingBytes?: number;
  /** How often the memory ceiling is checked. Default 500 ms. */
  memoryCheckIntervalMs?: number;
  /**
   * Linux namespaces through bubblewrap (`bwrap`, Debian package bubblewrap): the plugin sees the
   * file system read-only except `writable` paths and a private /tmp, its own process, IPC and
   * hostname namespaces. The network stays shared: the plugin must reach the host.
   * Refused at start when bwrap is not installed.
   */
  namespaces?: { writable?: string[] } | boolean;
}

export interface ResolvedSandbox {
  node:
    | { fsRead: string[]; fsWrite: string[]; childProcess: boolean; worker: boolean; maxOldSpaceMb: number | undefined }
    | undefined;
  limits: { addressSpaceBytes?: number; openFiles?: number; cpuSeconds?: number };
  /** Path of prlimit, when limits are set. */
  prlimit: string | undefined;
  memoryCeilingBytes: number | undefined;
  memoryCheckIntervalMs: number;
  /** Path of bwrap and the writable paths, when namespaces are on. */
  namespaces: { bwrap: string; writable: string[] } | undefined;
}

function absolutePaths(fail: (message: string) => never, field: string, paths: unknown): string[] {
  if (paths === undefined) return [];
  if (!Array.isArray(paths)) fail(`${field} must be a list of absolute paths`);
  for (const p of paths) if (typeof p !== "string" || !isAbsolute(p) || p.includes(",")) fail(`${field}: ${JSON.stringify(p)} is not an absolute path`);
  return [...(paths as string[])];
}

function positiveInteger(fail: (message: string) => never, field: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) fail(`${field} must be a positive integer`);
  return value as number;
}

/** Validates a spec's sandbox once, and finds the tools it needs, so a mistake fails at start, not at the first launch. */
export function resolveSandbox(
  fail: (message: string) => never,
  spec: SandboxSpec | undefined,
  find: (name: string) => string | undefined = findExecutable,
): ResolvedSandbox | undefined {
  if (spec === undefined) return undefined;
  const node = spec.node && {
    fsRead: absolutePaths(fail, "sandbox.node.fsRead", spec.node.fsRead),
    fsWrite: absolutePaths(fail, "sandbox.node.fsWrite", spec.node.fsWrite),
    childProcess: spec.node.childProcess === true,
    worker: spec.node.worker === true,
    maxOldSpaceMb: positiveInteger(fail, "sandbox.node.maxOldSpaceMb", spec.node.maxOldSpaceMb),
  };
  const limits = {
    ...(spec.limits?.addressSpaceBytes !== undefined ? { addressSpaceBytes: positiveInteger(fail, "sandbox.limits.addressSpaceBytes", spec.limits.addressSpaceBytes)! } : {}),
    ...(spec.limits?.openFiles !== undefined ? { openFiles: positiveInteger(fail, "sandbox.limits.openFiles", spec.limits.openFiles)! } : {}),
    ...(spec.limits?.cpuSeconds !== undefined ? { cpuSeconds: positiveInteger(fail, "sandbox.limits.cpuSeconds", spec.limits.cpuSeconds)! } : {}),
  };
  const prlimit = Object.keys(limits).length > 0 ? find("prlimit") : undefined;
  if (Object.keys(limits).length > 0 && prlimit === undefined)
    fail("sandbox.limits needs prlimit (util-linux), which is not installed");
  let namespaces: ResolvedSandbox["namespaces"];
  if (spec.namespaces) {
    const bwrap = find("bwrap");
    if (bwrap === undefined)
      fail("sandbox.namespaces needs bubblewrap (bwrap), which is not installed: apt-get install bubblewrap, or remove sandbox.namespaces");
    const writable = typeof spec.namespaces === "object" ? absolutePaths(fail, "sandbox.namespaces.writable", spec.namespaces.writable) : [];
    namespaces = { bwrap, writable };
  }
  return {
    node,
    limits,
    prlimit,
    memoryCeilingBytes: positiveInteger(fail, "sandbox.memoryCeilingBytes", spec.memoryCeilingBytes),
    memoryCheckIntervalMs: positiveInteger(fail, "sandbox.memoryCheckIntervalMs", spec.memoryCheckIntervalMs) ?? 500,
    namespaces,
  };
}
