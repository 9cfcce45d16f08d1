/**
 * Temp dirs for tests, under the run's temp dir (TMPDIR, set by global-setup.ts). Every dir made
 * here is removed when the test file is done (cleanup.setup.ts), whether the test passed or not.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const made = new Set<string>();

export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.add(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
  made.clear();
}
