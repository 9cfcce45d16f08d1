/**
 * The router's decision steps when every answer is at hand (synchronous authenticate, authorize,
 * in-memory rate limit, resolve): refusals thrown, not rejected, reach the caller in its protocol
 * with their codes; the rate limit is keyed per caller; a declared oversize Connect unary body is
 * refused before any provider is looked up; and no refusal keeps a pending count (maxPendingPerService 1).
 */
import http2 from "node:http2";
import { describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Identity } from "../../../src/identity/index.js";
import { retryDelayMs, type RouterOptions } from "../../../src/router/index.js";
import { ALL_PROTOCOLS, expectConnectError, identities, SIGNING_KEY, startFront, useProvider } from "./harness.js";

describe("synchronous decision steps", () => {
  const env = useProvider();
  const clients = env.clients;

  function syncOptions(log: { keys: string[]; resolves: number; denyAfter: number; async: boolean }): RouterOptions {
    let consumed = 0;
    return {
      authenticate(req) {
        const h = req.headers["authorization"];
        const id = typeof h === "string" ? identities[h.slice(7)] : undefined;
        if (!id) throw new ConnectError("missing or invalid credentials", Code.Unauthenticated);
        return id;
      },
      authorize(caller, _service, method) {
        if (caller.subject === "runtime:mallory" && method === "Put") throw new ConnectError("not allowed", Code.PermissionDenied);
      },
      rateKey: (caller: Identity) => `k:${caller.subject}`,
      rateLimiter: {
        consumeNow(key) {
          if (log.async) return undefined;
          log.keys.push(key);
          return ++consumed > log.denyAfter ? { ok: false, retryAfterMs: 2_500 } : { ok: true };
        },
        async consume(key) {
          log.keys.push(`async:${key}`);
          return { ok: true };
        },
      },
      resolve(service) {
        log.resolves++;
        if (service !== "kv.v1.KVService") throw new ConnectError(`no provider for ${service}`, Code.NotFound);
        return { runtimeId: "kv-1", registrationId: "reg-1", endpoint: env.provider.url, signingKey: SIGNING_KEY, protocols: ALL_PROTOCOLS };
      },
      maxPendingPerService: 1,
      maxMessageBytes: 64,
    };
  }

  it.each(["connect", "grpc", "grpcweb"] as const)("%s: answers, refusals with their codes, the rate limit per caller; nothing stays pending", async (protocol) => {
    const log = { keys: [] as string[], resolves: 0, denyAfter: 4, async: false };
    const front = await startFront(syncOptions(log));
    try {
      const kv = clients.client(protocol, front.url);
      expect((await kv.get({ key: "a" })).caller).toBe("runtime:alice");
      expect((await expectConnectError(clients.client(protocol, front.url, null).get({ key: "a" }))).code).toBe(Code.Unauthenticated);
      expect((await expectConnectError(clients.client(protocol, front.url, "pbrt_mallory").put({ key: "a" }))).code).toBe(Code.PermissionDenied);
      expect((await kv.get({ key: "b" })).key).toBe("b");
      expect(log.keys).toEqual(["k:runtime:alice", "k:runtime:alice"]);
      expect((await kv.get({ key: "c" })).key).toBe("c");
      expect((await clients.client(protocol, front.url, "pbrt_mallory").get({ key: "d" })).key).toBe("d");
      const limited = await expectConnectError(kv.get({ key: "e" }));
      expect(limited.code).toBe(Code.ResourceExhausted);
      expect(retryDelayMs(limited)).toBe(2_500);
      expect(log.resolves).toBe(4);
      log.denyAfter = Infinity;
      log.async = true;
      expect((await kv.get({ key: "f" })).key).toBe("f");
      expect(log.keys.at(-1)).toBe("async:k:runtime:alice");
    } finally {
      clients.close();
      await front.close();
    }
  });

  it("a Connect unary body declared over maxMessageBytes is refused before resolve; one at the limit is not", async () => {
    const log = { keys: [] as string[], resolves: 0, denyAfter: Infinity, async: false };
    const front = await startFront(syncOptions(log));
    const session = http2.connect(front.url);
    const post = (bytes: number) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = session.request({
          ":method": "POST",
          ":path": "/kv.v1.KVService/Put",
          "content-type": "application/proto",
          "connect-protocol-version": "1",
          authorization: "Bearer pbrt_alice",
          "content-length": String(bytes),
        });
        let status = 0;
        let body = "";
        req.on("response", (h) => (status = Number(h[":status"])));
        req.setEncoding("utf8");
        req.on("data", (c: string) => (body += c));
        req.on("end", () => resolve({ status, body }));
        req.on("error", reject);
        req.end(Buffer.alloc(bytes));
      });
    try {
      const refused = await post(65);
      expect(refused.status).toBe(429);
      expect(JSON.parse(refused.body)).toMatchObject({ code: "resource_exhausted", message: "request message larger than 64 bytes" });
      expect(log.resolves).toBe(0);
      // Exactly at the limit: resolved and forwarded (the provider answers whatever 64 zero bytes decode to).
      await post(64);
      expect(log.resolves).toBe(1);
    } finally {
      await new Promise<void>((resolve) => setImmediate(resolve));
      session.close();
      clients.close();
      await front.close();
    }
  });
});
