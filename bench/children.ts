import type { SpawnOptions } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { killGroup, spawnGroup, type Core } from "./processes.js";

/**
 * Starts `bench/<file>` as a node child (its own event loop, its own process group, pinned to
 * `core` when given) and resolves with the JSON object it prints first. The child exits when its
 * stdin closes. `nodeFlags` adds e.g. `--cpu-prof`.
 */
export interface Child<T> {
  info: T;
  /** The node process itself (node runs tsx as a loader: no wrapper), for /proc CPU readings. */
  pid: number;
  /** Sends one command line and resolves with the child's next output line. */
  ask(command: string): Promise<string>;
  /** Resolves with the child's next output line (one it prints unasked). */
  next(): Promise<string>;
  stop(): Promise<void>;
}

export function startChild<T>(file: string, args: string[], nodeFlags: string[] = [], core?: Core, options: SpawnOptions = {}): Promise<Child<T>> {
  const path = fileURLToPath(new URL(file, import.meta.url));
  const child = spawnGroup(process.execPath, [...nodeFlags, "--import", "tsx", path, ...args], core, options);
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => {
      void killGroup(child);
      reject(new Error(`${file} did not start within 60 s`));
    }, 60_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited with ${code} before it was ready`));
    });
    const waiting: ((line: string) => void)[] = [];
    lines.once("line", (line) => {
      clearTimeout(timer);
      lines.on("line", (next) => waiting.shift()?.(next));
      resolve({
        info: JSON.parse(line) as T,
        pid: child.pid!,
        ask: (command) =>
          new Promise<string>((answer) => {
            waiting.push(answer);
            child.stdin!.write(`${command}\n`);
          }),
        next: () => new Promise<string>((answer) => waiting.push(answer)),
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) {
            const exited = new Promise<void>((r) => child.once("exit", () => r()));
            child.stdin!.end();
            // A clean exit (lets --cpu-prof write), bounded; then the group goes whatever it did.
            await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000).unref())]);
          }
          await killGroup(child);
        },
      });
    });
  });
}
