import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { median } from "./load.js";

/**
 * `npm run bench:import` (`tsx bench/import-cost.ts [--quick]`): how long `import("plugboard")` and
 * `import("plugboard/sdk")` take against `import("@connectrpc/connect-node")` alone, which every
 * Connect app on Node pays anyway. Each sample is a fresh node process (cold module graph, warm OS
 * file cache) timing its own dynamic import; variants are interleaved over rounds and the medians
 * reported, with ratios. Measures the BUILT package (dist/). Exits 0 whatever the numbers.
 */

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const VARIANTS = ["@connectrpc/connect-node", "plugboard", "plugboard/sdk"] as const;
const quick = process.argv.includes("--quick");
const ROUNDS = quick ? 3 : 9;

function importMs(specifier: string): number {
  const script = `const t = performance.now(); await import(${JSON.stringify(specifier)}); process.stdout.write(String(performance.now() - t));`;
  const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  if (result.status !== 0) throw new Error(`import(${specifier}) failed: ${result.stderr}`);
  return Number(result.stdout);
}

function main(): void {
  if (!existsSync(`${ROOT}/dist/src/index.js`)) throw new Error("dist/ is missing: run npm run build first");
  const samples = new Map<string, number[]>(VARIANTS.map((v) => [v, []]));
  importMs(VARIANTS[0]); // warms the OS file cache for everyone
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < VARIANTS.length; i++) {
      const variant = VARIANTS[(i + round) % VARIANTS.length]!;
      samples.get(variant)!.push(importMs(variant));
    }
  }
  const ms = (v: string) => median(samples.get(v)!);
  const baseline = ms("@connectrpc/connect-node");
  console.log(`import cost${quick ? " (quick)" : ""}: ${ROUNDS} round(s) of fresh node processes, median reported`);
  for (const v of VARIANTS) console.log(`import ${v.padEnd(26)}${ms(v).toFixed(1).padStart(8)} ms`);
  for (const v of VARIANTS.slice(1)) console.log(`ratio import ${v} / @connectrpc/connect-node: ${(ms(v) / baseline).toFixed(2)}x`);
}

main();
