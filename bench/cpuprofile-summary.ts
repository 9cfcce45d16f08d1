/**
 * Summarises a V8 .cpuprofile: `tsx bench/cpuprofile-summary.ts <file> [top] [filter]` prints the functions
 * with the most self time and the most inclusive time (a function counted once per sample even when
 * recursive), as percentages of the profile's non-idle samples. `filter`: only samples whose stack has a
 * frame whose name or url contains it (e.g. "handshake"; "-" for all); `startAt`: skips samples before the
 * first one whose stack has such a frame (e.g. "register", to leave out start-up and minting).
 */
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
const [file, topArg, filter, startAt] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(file!, "utf8")) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const top = Number(topArg ?? 40);
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n: Node) =>
  `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.replace(/^.*node_modules\//, "~/").replace(/^.*\/(src|bench|gen)\//, "$1/")}:${n.callFrame.lineNumber + 1}`;
const self = new Map<string, number>();
const incl = new Map<string, number>();
let total = 0;
let started = startAt === undefined;
const has = (stack: Node[], s: string) => stack.some((n) => n.callFrame.functionName.includes(s) || n.callFrame.url.includes(s));
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  const leaf = byId.get(id)!;
  const stack: Node[] = [];
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) stack.push(byId.get(cur)!);
  if (!started && has(stack, startAt!)) started = true;
  if (!started || leaf.callFrame.functionName === "(idle)") return;
  if (filter && filter !== "-" && !has(stack, filter)) return;
  total += dt;
  self.set(label(leaf), (self.get(label(leaf)) ?? 0) + dt);
  for (const l of new Set(stack.map(label))) incl.set(l, (incl.get(l) ?? 0) + dt);
});
const print = (title: string, m: Map<string, number>) => {
  console.log(`\n${title} (of ${(total / 1000).toFixed(0)} ms)`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`);
};
print("self", self);
print("inclusive", incl);
