/**
 * `tsx bench/heapprofile-summary.ts <file.heapprofile> [top] [calls]`: bytes allocated (sampled) by
 * function and by file, self; with `calls`, also per call.
 */
import { readFileSync } from "node:fs";

interface Node {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: Node[];
}
const [file, topArg, callsArg] = process.argv.slice(2);
const { head } = JSON.parse(readFileSync(file!, "utf8")) as { head: Node };
const top = Number(topArg ?? 40);
const calls = Number(callsArg ?? 0);
const byFn = new Map<string, number>();
const byFile = new Map<string, number>();
let total = 0;
const shortUrl = (url: string) => url.replace(/^.*node_modules\//, "~/").replace(/^.*\/((\.base-)?dist|src|bench)\//, "$1/");
(function walk(n: Node) {
  const url = shortUrl(n.callFrame.url) || "(native)";
  const fn = `${n.callFrame.functionName || "(anon)"} ${url}:${n.callFrame.lineNumber + 1}`;
  total += n.selfSize;
  byFn.set(fn, (byFn.get(fn) ?? 0) + n.selfSize);
  byFile.set(url, (byFile.get(url) ?? 0) + n.selfSize);
  for (const c of n.children) walk(c);
})(head);
const print = (title: string, m: Map<string, number>) => {
  console.log(`\n${title} (total ${(total / 1048576).toFixed(1)} MiB${calls ? `, ${(total / calls).toFixed(0)} B/call` : ""})`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${((100 * v) / total).toFixed(1).padStart(5)}% ${(v / 1024).toFixed(0).padStart(8)} KiB${calls ? ` ${(v / calls).toFixed(0).padStart(6)} B/call` : ""}  ${k}`);
};
print("by file", byFile);
print("by function", byFn);
