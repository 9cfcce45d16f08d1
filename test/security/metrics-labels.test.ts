import { randomBytes } from "node:crypto";
import * as http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KV, startAttackHost, type AttackHost } from "./harness.js";

/**
 * Hole 10: service names in routed paths are the caller's choice. Refused calls to made-up
 * services must not use up the metrics label budget, so real services keep their own label.
 */
let h: AttackHost;
beforeAll(async () => {
  h = await startAttackHost();
});
afterAll(async () => h?.close());

const MADE_UP_CALLS = 1100;

/** Sends `count` Connect unary calls to random service names on one session; resolves with their statuses. */
async function callMadeUpServices(count: number, token: string): Promise<Map<number, number>> {
  const session = http2.connect(h.url);
  session.on("error", () => undefined);
  const statuses = new Map<number, number>();
  const one = () =>
    new Promise<void>((resolve) => {
      const stream = session.request({
        ":method": "POST",
        ":path": `/madeup${randomBytes(6).toString("hex")}.v1.Svc/Get`,
        "content-type": "application/json",
        authorization: `Bearer ${token}`,
      });
      stream.on("response", (headers) => {
        const s = Number(headers[":status"]);
        statuses.set(s, (statuses.get(s) ?? 0) + 1);
      });
      stream.on("error", () => undefined);
      stream.on("close", () => resolve());
      stream.resume();
      stream.end("{}");
    });
  try {
    for (let sent = 0; sent < count; sent += 50) {
      await Promise.all(Array.from({ length: Math.min(50, count - sent) }, one));
    }
  } finally {
    session.destroy();
  }
  return statuses;
}

/** GET /metrics over HTTP/2 (the main port speaks h2c only). */
async function metricsText(): Promise<string> {
  const session = http2.connect(h.url);
  session.on("error", () => undefined);
  try {
    return await new Promise<string>((resolve) => {
      const stream = session.request({ ":method": "GET", ":path": "/metrics" });
      let text = "";
      stream.setEncoding("utf8");
      stream.on("data", (c: string) => (text += c));
      stream.on("error", () => undefined);
      stream.on("close", () => resolve(text));
      stream.end();
    });
  } finally {
    session.destroy();
  }
}

describe("routed-call metrics labels", () => {
  it("1000+ refused calls to made-up services leave a registered service its own label", async () => {
    const statuses = await callMadeUpServices(MADE_UP_CALLS, h.consumer.token);
    // Every made-up call was refused (not found / permission denied), none forwarded.
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(MADE_UP_CALLS);
    expect(statuses.has(200)).toBe(false);

    await h.kv().get({ key: "k" }, { headers: { authorization: `Bearer ${h.consumer.token}` } });
    const text = await metricsText();
    expect(text).toMatch(new RegExp(`plugboard_routed_calls_total\\{service="${KV.replace(/\./g, "\\.")}",code="ok"\\} 1\\b`));
    // No made-up name became a label.
    expect(text).not.toMatch(/service="madeup/);
  });
});
