import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { resolve } from "node:path";

export const TSX = resolve("node_modules/.bin/tsx");

/** Runs a TypeScript entry point as a real child process. */
export function spawnTs(file: string, args: string[] = [], env: Record<string, string> = {}): ChildProcess {
  return spawn(TSX, [file, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
}

/** Resolves with the first stdout line the predicate accepts; rejects if the process exits first. */
export function waitForLine(child: ChildProcess, accept: (line: string) => boolean, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const stderr: string[] = [];
    child.stderr?.on("data", (d: Buffer) => stderr.push(d.toString()));
    const timer = setTimeout(() => reject(new Error(`no matching line within ${timeoutMs} ms; stderr: ${stderr.join("")}`)), timeoutMs);
    lines.on("line", (line) => {
      if (accept(line)) {
        clearTimeout(timer);
        resolvePromise(line);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`process exited with ${code} before the line; stderr: ${stderr.join("")}`));
    });
  });
}

export function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((r) => child.once("exit", (code) => r(code)));
}

/** Runs a command to completion and collects its output. */
export function run(file: string, args: string[], env: Record<string, string> = {}, input?: string) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolvePromise) => {
    const child = spawn(TSX, [file, ...args], { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(input ?? "");
    child.once("exit", (code) => resolvePromise({ code, stdout, stderr }));
  });
}
