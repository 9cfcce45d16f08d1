import { accessSync, constants } from "node:fs";
import { join } from "node:path";

/** Where system tools live on Linux even when the host runs with a narrow PATH. */
const SYSTEM_DIRS = ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"];

/** The absolute path of an executable on PATH or in the system folders, or undefined. */
export function findExecutable(name: string, path: string = process.env["PATH"] ?? ""): string | undefined {
  for (const dir of [...path.split(":").filter(Boolean), ...SYSTEM_DIRS]) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
