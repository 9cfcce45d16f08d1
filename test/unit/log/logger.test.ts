import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../../src/log/logger.js";

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _e, done) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      done();
    },
  });
  return { lines, destination };
}

/** Every key of a JSON object literal at the top level, duplicates included (JSON.parse would hide them). */
function topLevelKeys(line: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') {
      let j = i + 1;
      while (line[j] !== '"') j += line[j] === "\\" ? 2 : 1;
      if (depth === 1 && line[j + 1] === ":") keys.push(line.slice(i + 1, j));
      i = j;
    } else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
  }
  return keys;
}

describe("host logger", () => {
  it("writes one JSON record per line without duplicate keys, even for fields named pid or hostname", async () => {
    const { lines, destination } = capture();
    const logger = createLogger({ name: "plugboard", destination });
    logger.warn({ pid: 123, hostname: "0.0.0.0", name: "x" }, "clash");
    await new Promise((r) => setImmediate(r));
    const keys = topLevelKeys(lines[0]!);
    expect(new Set(keys).size).toBe(keys.length);
    expect(JSON.parse(lines[0]!)).toMatchObject({ pid: process.pid, name: "plugboard", fields: { pid: 123, hostname: "0.0.0.0", name: "x" } });
  });
});
