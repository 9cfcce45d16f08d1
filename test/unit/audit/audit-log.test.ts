import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { auditPluginProcess, createAuditLog, type AuditRecord } from "../../../src/audit/index.js";

const TOKEN = `pbrt_${"x".repeat(43)}`;

function collect() {
  const records: AuditRecord[] = [];
  return { records, destination: (r: AuditRecord) => records.push(r) };
}

describe("audit log", () => {
  it("writes one complete record per event, with the event's request id", () => {
    const { records, destination } = collect();
    const log = createAuditLog({ destination, now: () => Date.UTC(2026, 0, 2) });
    log.sink({ event: "registration", outcome: "success", actor: { subject: "runtime:rt_1", method: "token", runtimeId: "rt_1" }, target: "kv.v1.KV", requestId: "req-42" });
    expect(records).toEqual([
      {
        level: 30,
        audit: true,
        time: "2026-01-02T00:00:00.000Z",
        event: "registration",
        outcome: "success",
        actor: { subject: "runtime:rt_1", method: "token", runtimeId: "rt_1" },
        target: "kv.v1.KV",
        reason: null,
        requestId: "req-42",
      },
    ]);
  });

  it("generates a request id when none is in scope, and keeps an explicit one", () => {
    const { records, destination } = collect();
    const log = createAuditLog({ destination });
    log.sink({ event: "a", outcome: "success" });
    log.sink({ event: "b", outcome: "success", requestId: "given" });
    // A per-process random prefix and a counter: unique, cheap, not secret.
    expect(records[0]!.requestId).toMatch(/^req_[A-Za-z0-9_-]{12}[0-9a-z]+$/);
    log.sink({ event: "c", outcome: "success" });
    expect(records[2]!.requestId).not.toBe(records[0]!.requestId);
    expect(records[1]!.requestId).toBe("given");
  });

  it("hmac is 16 hex chars, keyed: same key same value, other key other value", () => {
    const key = Buffer.alloc(32, 1);
    const a = createAuditLog({ hmacKey: key, destination: () => undefined });
    const b = createAuditLog({ hmacKey: key, destination: () => undefined });
    const c = createAuditLog({ hmacKey: Buffer.alloc(32, 2), destination: () => undefined });
    expect(a.hmac(TOKEN)).toMatch(/^[0-9a-f]{16}$/);
    expect(a.hmac(TOKEN)).toBe(b.hmac(TOKEN));
    expect(c.hmac(TOKEN)).not.toBe(a.hmac(TOKEN));
    expect(() => createAuditLog({ hmacKey: Buffer.alloc(4) })).toThrow(/16 bytes/);
  });

  it("never writes a token that slipped into a field: it becomes its hmac", () => {
    const { records, destination } = collect();
    const log = createAuditLog({ destination });
    log.sink({ event: "token.revoke", outcome: "failure", target: TOKEN, reason: `bad ${TOKEN.replace("pbrt", "pbgt")}`, actor: { subject: TOKEN, method: "token" } });
    const text = JSON.stringify(records);
    expect(text).not.toContain("x".repeat(43));
    expect(records[0]!.target).toBe(`hmac:${log.hmac(TOKEN)}`);
  });

  it("writes JSON lines to a pino destination", async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, done) {
        lines.push(...String(chunk).split("\n").filter(Boolean));
        done();
      },
    });
    const log = createAuditLog({ destination });
    log.sink({ event: "handshake", outcome: "failure", reason: "bad cookie" });
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0]!);
    expect(record).toMatchObject({ event: "handshake", outcome: "failure", reason: "bad cookie", actor: null, target: null });
    expect(Object.keys(record).sort()).toEqual(["actor", "audit", "event", "level", "outcome", "reason", "requestId", "target", "time"]);
    // A failure is a warning, so `level >= 40` filters find refused calls.
    expect(record).toMatchObject({ level: 40, audit: true });
  });

  it("records plugin process start, stop and restart for the launcher", () => {
    const { records, destination } = collect();
    const { sink } = createAuditLog({ destination });
    auditPluginProcess(sink, { action: "start", pluginName: "kv", pid: 123 });
    auditPluginProcess(sink, { action: "restart", pluginName: "kv", reason: "crashed (exit 1)" });
    auditPluginProcess(sink, { action: "stop", pluginName: "kv", outcome: "failure", reason: "kill timeout" });
    expect(records.map((r) => [r.event, r.outcome, r.target, r.reason])).toEqual([
      ["plugin.start", "success", "kv pid=123", null],
      ["plugin.restart", "success", "kv", "crashed (exit 1)"],
      ["plugin.stop", "failure", "kv", "kill timeout"],
    ]);
  });
});

describe("recordPluginProcess", () => {
  it("audits every event and counts restarts on the host's metrics", async () => {
    const { createHostMetrics } = await import("../../../src/metrics/index.js");
    const { createMemoryStore } = await import("../../../src/store/memory.js");
    const { recordPluginProcess } = await import("../../../src/audit/index.js");
    const records: AuditRecord[] = [];
    const host = { audit: createAuditLog({ destination: (r) => records.push(r) }).sink, metrics: createHostMetrics({ store: createMemoryStore() }) };
    recordPluginProcess(host, { action: "start", pluginName: "kv" });
    recordPluginProcess(host, { action: "restart", pluginName: "kv", reason: "crashed" });
    recordPluginProcess(host, { action: "restart", pluginName: "kv", reason: "crashed" });
    expect(records.map((r) => r.event)).toEqual(["plugin.start", "plugin.restart", "plugin.restart"]);
    expect((await host.metrics.render()).body).toContain('plugboard_plugin_restarts_total{plugin="kv"} 2');
  });
});
