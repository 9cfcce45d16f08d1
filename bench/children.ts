import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/**
 * Starts `bench/<file>` as a tsx child (its own event loop) and resolves with the JSON object it
 * prints first. The child exits when its stdin closes. `nodeFlags` adds e.g. `--cpu-prof`.
 */
export interface Child<T> {
  info: T;
  /** Sends one command line and resolves with the child's next output line. */
  ask(command: string): Promise<string>;
  stop(): Promise<void>;
}

export function startChild<T>(file: string, args: string[], nodeFlags: string[] = []): Promise<Child<T>> {
  const path = fileURLToPath(new URL(file, import.meta.url));
  const child = spawn(process.execPath, [...nodeFlags, "--import", "tsx", path, ...args], { stdio: ["pipe", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`${file} did not start within 30 s`));
    }, 30_000);
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
        ask: (command) =>
          new Promise<string>((answer) => {
            waiting.push(answer);
            child.stdin!.write(`${command}\n`);
          }),
        stop: () => stop(child),
      });
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    child.stdin!.end();
  });
}
