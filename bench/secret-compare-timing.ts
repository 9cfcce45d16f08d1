import { randomBytes } from "node:crypto";
import { createMemoryStore } from "../src/store/memory.js";
import { secretsEqual } from "../src/tokens/secret-compare.js";
import { createTokenService } from "../src/tokens/tokens.js";

/**
 * `npm run bench` (`tsx bench/secret-compare-timing.ts [--quick]`): a dudect-style statistical check
 * that comparing a guess with a secret takes the same time whether the guess shares a long prefix
 * with it or differs at the first character. Two classes of inputs are timed in random interleaving;
 * Welch's t statistic over trimmed batch timings is reported against THRESHOLD. A positive control
 * (an early-exit comparison) shows whether the measurement can see a leak on this machine at all.
 * Sensitive to machine load, so it is measured here and reported, never asserted in `npm test`
 * (test/security/constant-time-compare.test.ts checks the construction deterministically instead).
 * Exits 0 whatever the numbers.
 */
const THRESHOLD = 10;
const quick = process.argv.includes("--quick");
const BATCHES = quick ? 200 : 4_000;
const PER_BATCH = 20;

function welchT(a: number[], b: number[]): number {
  const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
  const variance = (x: number[], m: number) => x.reduce((s, v) => s + (v - m) ** 2, 0) / (x.length - 1);
  const ma = mean(a);
  const mb = mean(b);
  return (ma - mb) / Math.sqrt(variance(a, ma) / a.length + variance(b, mb) / b.length);
}

/** Drop the slowest 10 % (interrupts, GC) from each class. */
const trim = (x: number[]) => [...x].sort((p, q) => p - q).slice(0, Math.floor(x.length * 0.9));

async function measure(run: (input: string) => unknown, classA: () => string, classB: () => string): Promise<number> {
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < 200; i++) await run(classA()); // warm up the JIT
  for (let i = 0; i < BATCHES; i++) {
    const useA = Math.random() < 0.5;
    const inputs = Array.from({ length: PER_BATCH }, useA ? classA : classB);
    const start = process.hrtime.bigint();
    for (const input of inputs) await run(input);
    (useA ? a : b).push(Number(process.hrtime.bigint() - start));
  }
  return Math.abs(welchT(trim(a), trim(b)));
}

function earlyExitEqual(x: string, y: string): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x.charCodeAt(i) !== y.charCodeAt(i)) return false;
  return true;
}

async function main(): Promise<void> {
  const secret = randomBytes(3_000).toString("base64url");
  const lateDiff = () => secret.slice(0, -1) + (secret.endsWith("A") ? "B" : "A");
  const earlyDiff = () => (secret.startsWith("A") ? "B" : "A") + secret.slice(1);

  const control = await measure((g) => earlyExitEqual(g, secret), lateDiff, earlyDiff);
  console.log(`timing early-exit-compare (positive control) |t| ${control.toFixed(1)} [${control > THRESHOLD ? "detected" : "NOT detected: this run cannot see a leak"}]`);

  const compare = await measure((g) => secretsEqual(g, secret), lateDiff, earlyDiff);
  console.log(`timing secretsEqual |t| ${compare.toFixed(1)} [${compare < THRESHOLD ? "PASS" : "MISS"} < ${THRESHOLD}]`);

  const tokens = createTokenService({ store: createMemoryStore() });
  const { token } = await tokens.issue("runtime", "rt_timing", 3_600_000);
  const body = token.slice(5);
  const near = () => `pbrt_${body.slice(0, -1)}${body.endsWith("A") ? "B" : "A"}`;
  const far = () => `pbrt_${body.startsWith("A") ? "B" : "A"}${body.slice(1)}`;
  const verify = await measure((g) => tokens.verify(g, "runtime"), near, far);
  console.log(`timing token-verify |t| ${verify.toFixed(1)} [${verify < THRESHOLD ? "PASS" : "MISS"} < ${THRESHOLD}]`);
}

await main();
