import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";

/** `host.yaml` → `host.yaml.pid`: where `plugboard host` notes its pid for `plugboard reload`. */
export function pidFileOf(configFile: string): string {
  return `${resolve(configFile)}.pid`;
}

export function writePidFile(file: string): () => void {
  writeFileSync(file, `${process.pid}\n`, { mode: 0o644 });
  return () => {
    // Only our own: a newer host on the same config may have replaced it.
    if (readPid(file) === process.pid) rmSync(file, { force: true });
  };
}

export function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, "utf8").trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
