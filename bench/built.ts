/**
 * The benchmark measures the host as users run it: the compiled JavaScript in dist/ (`npm run build`,
 * what `plugboard host` and the published package run), not the TypeScript sources through tsx, whose
 * transform adds work to every call (esbuild's keepNames wraps each named closure in a `__name` call:
 * ~5 % of a routed call's CPU). `ensureBuilt()` rebuilds first when a source is newer than the build.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** The build's own marker: written last by `npm run build` (scripts/copy-assets.mjs copies after tsc). */
const BUILT_MARKER = join(ROOT, "dist/src/host/create.js");

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function builtAt(): number {
  try {
    return statSync(BUILT_MARKER).mtimeMs;
  } catch {
    return -1;
  }
}

/** Builds dist/ when it is missing or older than src/ or gen/ (run in the bench's parent, before any child starts). */
export function ensureBuilt(): void {
  if (builtAt() >= Math.max(newestMtime(join(ROOT, "src")), newestMtime(join(ROOT, "gen")))) return;
  console.log("building dist/ (the benchmark measures the compiled host) …");
  execFileSync(process.platform === "win32" ? "npm.cmd" : "npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });
}

/**
 * The URL of a compiled module, e.g. `built("src/host/create.js")`: import it with `await import(...)`.
 * `BENCH_DIST=<dir>` takes it from another build (a copy of another commit's dist/ kept inside this
 * checkout, so it resolves the same node_modules): a before/after in one interleaved run.
 */
export const built = (file: string): string => {
  const dist = process.env["BENCH_DIST"];
  return dist ? pathToFileURL(join(dist, file)).href : new URL(`../dist/${file}`, import.meta.url).href;
};
