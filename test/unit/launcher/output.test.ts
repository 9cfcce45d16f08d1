import { PassThrough } from "node:stream";
import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { captureOutput } from "../../../src/launcher/output.js";

function setup(options: Parameters<typeof captureOutput>[3] = {}) {
  const records: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const line of chunk.toString().split("\n")) if (line) records.push(JSON.parse(line));
      done();
    },
  });
  const stream = new PassThrough();
  captureOutput(stream, pino({ level: "info" }, sink), { plugin: "p", stream: "stderr" }, options);
  const end = () => new Promise<void>((resolve) => (stream.end(), setImmediate(() => setImmediate(resolve))));
  return { stream, records, end };
}

describe("captureOutput", () => {
  it("logs whole lines across chunks, tagged, CRLF trimmed, last unterminated line at end", async () => {
    const { stream, records, end } = setup();
    stream.write("hel");
    stream.write("lo\r\nwor");
    stream.write("ld\nbye");
    await end();
    expect(records.map((r) => [r["msg"], r["plugin"], r["stream"], r["level"]])).toEqual([
      ["hello", "p", "stderr", 40],
      ["world", "p", "stderr", 40],
      ["bye", "p", "stderr", 40],
    ]);
  });

  it("cuts long lines at the cap, logs the head at once and skips the rest of the line", async () => {
    const { stream, records, end } = setup({ maxLineBytes: 10 });
    stream.write("abcdefghijKLMNOP");
    await new Promise((r) => setImmediate(r));
    expect(records.map((r) => r["msg"])).toEqual(["abcdefghij"]); // before any newline arrives
    stream.write("QRST\nnext\n");
    await end();
    expect(records.map((r) => [r["msg"], r["truncated"]])).toEqual([
      ["abcdefghij", true],
      ["next", undefined],
    ]);
  });

  it("rate-limits lines and reports how many were dropped", async () => {
    const { stream, records, end } = setup({ maxLinesPerSecond: 5 });
    stream.write(Array.from({ length: 50 }, (_, i) => `line ${i}\n`).join(""));
    await end();
    expect(records.filter((r) => String(r["msg"]).startsWith("line "))).toHaveLength(5);
    expect(records.at(-1)).toMatchObject({ dropped: 45, msg: "plugin output rate-limited: lines dropped" });
  });

  it("pauses reading past the byte budget and resumes in the next second", async () => {
    const { stream, records, end } = setup({ maxBytesPerSecond: 1_000 });
    stream.write("x".repeat(2_000) + "\n");
    await new Promise((r) => setImmediate(r));
    expect(stream.isPaused()).toBe(true);
    await new Promise((r) => setTimeout(r, 1_100));
    expect(stream.isPaused()).toBe(false);
    await end();
    expect(records).toHaveLength(1);
  });
});

describe("captureOutput: structured plugin logs", () => {
  it("re-emits a plugin's pino line as its own record: its level, message and fields, tagged; host-only fields not trusted", async () => {
    const { stream, records, end } = setup();
    stream.write(
      JSON.stringify({ level: 50, time: 1, pid: 4242, hostname: "evil", name: "billing", msg: "charge failed", orderId: "o-1", plugin: "other", audit: true, stream: "x" }) + "\n",
    );
    stream.write(JSON.stringify({ level: "debug", msg: "hidden below info" }) + "\n");
    stream.write('{"not":"a log record"}\n');
    await end();
    expect(records).toHaveLength(2);
    const [own, text] = records;
    expect(own).toMatchObject({ level: 50, msg: "charge failed", orderId: "o-1", plugin: "p", stream: "stderr", logger: "billing" });
    expect(own!["audit"]).toBeUndefined();
    expect(own!["pid"]).toBe(process.pid); // the host's pid, not the plugin's claim
    expect(own!["hostname"]).not.toBe("evil");
    expect(text).toMatchObject({ level: 40, msg: '{"not":"a log record"}' });
  });

  it("logs a multi-line stack trace as one record", async () => {
    const { stream, records, end } = setup();
    stream.write("before\nError: boom\n    at f (/app/a.js:1:2)\n");
    stream.write("    at g (/app/b.js:3:4)\nafter\n");
    await end();
    expect(records.map((r) => r["msg"])).toEqual(["before", "Error: boom\n    at f (/app/a.js:1:2)\n    at g (/app/b.js:3:4)", "after"]);
    expect(records[1]).toMatchObject({ level: 50, stackTrace: true, plugin: "p" });
  });

  it("writes each record with unique keys even when a field is named like pino's own", async () => {
    const { stream, records, end } = setup();
    stream.write(JSON.stringify({ level: 30, msg: "m", fields: "x" }) + "\n");
    await end();
    expect(records[0]!["fields"]).toBeUndefined();
  });
});

describe("captureOutput: a plugin crashing with an uncaught exception", () => {
  it("logs Node's whole crash report as one record", async () => {
    const { stream, records, end } = setup();
    stream.write(
      [
        "file:///app/plugin.mjs:2",
        'throw new Error("boom");',
        "      ^",
        "",
        "Error: boom",
        "    at file:///app/plugin.mjs:2:7",
        "    at ModuleJob.run (node:internal/modules/esm/module_job:325:25)",
        "",
        "Node.js v20.20.2",
        "",
      ].join("\n"),
    );
    stream.write("next line\n");
    await end();
    expect(records.map((r) => r["msg"])).toEqual([
      'file:///app/plugin.mjs:2\nthrow new Error("boom");\n      ^\n\nError: boom\n    at file:///app/plugin.mjs:2:7\n    at ModuleJob.run (node:internal/modules/esm/module_job:325:25)\n\nNode.js v20.20.2',
      "next line",
    ]);
    expect(records[0]).toMatchObject({ level: 50, stackTrace: true });
  });
});
