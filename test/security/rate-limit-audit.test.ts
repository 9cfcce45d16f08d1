import * as http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer } from "../helpers/transports.js";
import { codeOf, startAttackHost, type AttackHost } from "./harness.js";

/** A caller hammering a provider is refused with ResourceExhausted, audited and counted; so are bad credentials. */
let h: AttackHost;
beforeAll(async () => {
  h = await startAttackHost({ rateLimit: { perCaller: { points: 3, durationSec: 60 } } });
});
afterAll(async () => h?.close());

async function metrics(): Promise<string> {
  const session = http2.connect(h.url);
  try {
    return await new Promise((resolve, reject) => {
      const stream = session.request({ ":method": "GET", ":path": "/metrics" });
      let body = "";
      stream.setEncoding("utf8");
      stream.on("data", (c: string) => (body += c));
      stream.on("end", () => resolve(body));
      stream.on("error", reject);
    });
  } finally {
    session.close();
  }
}

describe("rate-limit hits and refused routed calls are visible", () => {
  it("calls past the budget are ResourceExhausted, audited with the caller and counted", async () => {
    const kv = h.kv();
    const codes = [];
    for (let i = 0; i < 6; i++) codes.push(await codeOf(kv.get({ key: "k" }, { headers: { ...bearer(h.consumer.token).headers, "plugboard-request-id": `burst-${i}` } })));
    expect(codes.slice(0, 3)).toEqual(["ok", "ok", "ok"]);
    expect(codes.slice(3)).toEqual([Code.ResourceExhausted, Code.ResourceExhausted, Code.ResourceExhausted]);
    const hits = h.audit.filter((r) => r.event === "rate_limit");
    expect(hits).toHaveLength(3);
    expect(hits[0]).toMatchObject({ outcome: "failure", target: "/kv.v1.KVService/Get", actor: { subject: `runtime:${h.consumer.runtimeId}` }, requestId: "burst-3" });
    const body = await metrics();
    expect(body).toContain('plugboard_rate_limit_rejections_total{service="kv.v1.KVService"} 3');
    expect(body).toContain('plugboard_routed_calls_total{service="kv.v1.KVService",code="ok"} 3');
  });

  it("a routed call with a bad token is audited as an authentication failure and counted", async () => {
    const before = h.audit.length;
    expect(await codeOf(h.kv().get({ key: "k" }, bearer(h.expired)))).toBe(Code.Unauthenticated);
    const records = h.audit.slice(before);
    expect(records).toEqual([expect.objectContaining({ event: "authentication", outcome: "failure", target: "/kv.v1.KVService/Get" })]);
    expect(JSON.stringify(records)).not.toContain(h.expired.slice(5));
    expect(await metrics()).toMatch(/plugboard_auth_attempts_total\{method="token",result="failure"\} [1-9]/);
  });
});
