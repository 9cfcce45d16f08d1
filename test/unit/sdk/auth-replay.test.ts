/**
 * The SDK's runtime-token interceptor and the replay under it, against a loopback KV service that
 * accepts only the tokens it is told to: which calls are resent with a recovered token (unary and
 * server streams, once), which are not (client and bidi streams), and how a resent stream behaves.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type HandlerContext } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { ExchangeResponseSchema, GetResponseSchema, KVService, ListResponseSchema, PutManyResponseSchema } from "../../../gen/kv/v1/kv_pb.js";
import { createAuthInterceptor } from "../../../src/sdk/auth.js";
import type { Session } from "../../../src/sdk/session.js";
import { serveLoopback } from "./loopback.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A session whose token is `current`; recover(used) switches to `next` (or fails with `recoverFails`). */
function fakeSession(first: string, next: string) {
  const recovered: string[] = [];
  const s: { current: string; recoverFails: boolean; recovered: string[]; session: Session } = {
    current: first,
    recoverFails: false,
    recovered,
    session: {
      state: undefined,
      start: () => Promise.reject(new Error("unused")),
      token: async () => s.current,
      recover: async (used: string) => {
        recovered.push(used);
        if (s.recoverFails) throw new ConnectError("host unreachable", Code.Unavailable);
        s.current = next;
      },
      stop: async () => undefined,
    },
  };
  return s;
}

/** KV accepting bearer tokens in `accepted`; every call's token is recorded per method. */
async function kvService(accepted: Set<string>, listItems = ["a", "b", "c"], refuseWith401 = false) {
  const seen: Record<string, string[]> = { get: [], list: [], putMany: [], exchange: [] };
  const check = (method: string, ctx: HandlerContext) => {
    const token = (ctx.requestHeader.get("authorization") ?? "").replace(/^Bearer /, "");
    seen[method]!.push(token);
    if (!accepted.has(token)) throw new ConnectError("token refused", Code.Unauthenticated);
  };
  const served = await serveLoopback(KVService, {
    get: (_req, ctx) => {
      check("get", ctx);
      return create(GetResponseSchema, { found: true });
    },
    async *list(req, ctx) {
      check("list", ctx);
      for (const key of listItems) yield create(ListResponseSchema, { key: `${req.prefix}${key}` });
    },
    putMany: async (reqs, ctx) => {
      check("putMany", ctx);
      let count = 0;
      for await (const _ of reqs) count++;
      return create(PutManyResponseSchema, { count });
    },
    async *exchange(reqs, ctx) {
      check("exchange", ctx);
      for await (const r of reqs) yield create(ExchangeResponseSchema, { text: r.text });
    },
  }, refuseWith401
    ? (headers) => {
        const token = String(headers["authorization"] ?? "").replace(/^Bearer /, "");
        if (accepted.has(token)) return undefined;
        const method = String(headers[":path"]).split("/").pop()!;
        seen[method[0]!.toLowerCase() + method.slice(1)]!.push(token);
        return 401;
      }
    : undefined);
  cleanups.push(() => served.close());
  return { url: served.url, seen };
}

function client(url: string, session: Session, protocol: "connect" | "grpc" = "connect") {
  const manager = new Http2SessionManager(url);
  cleanups.push(async () => {
    await new Promise((r) => setImmediate(r));
    manager.abort();
  });
  const make = protocol === "grpc" ? createGrpcTransport : createConnectTransport;
  return createClient(KVService, make({ baseUrl: url, httpVersion: "2", sessionManager: manager, interceptors: [createAuthInterceptor(session)] }));
}

async function* items<T>(list: T[]): AsyncIterable<T> {
  for (const i of list) yield i;
}
const collect = async <T>(it: AsyncIterable<T>) => {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
};
const codeOf = (p: Promise<unknown>) => p.then(() => "ok" as const, (e: unknown) => ConnectError.from(e).code);

describe("auth interceptor", () => {
  for (const protocol of ["connect", "grpc"] as const) {
    it(`${protocol}: a unary call and a server stream refused for their token are resent once with the recovered one`, async () => {
      const s = fakeSession("old", "new");
      const kv = await kvService(new Set(["new"]));
      const c = client(kv.url, s.session, protocol);
      expect((await c.get({ key: "k" })).found).toBe(true);
      expect(kv.seen["get"]).toEqual(["old", "new"]);
      expect(s.recovered).toEqual(["old"]);
      s.current = "old";
      expect((await collect(c.list({ prefix: "p/" }))).map((r) => r.key)).toEqual(["p/a", "p/b", "p/c"]);
      expect(kv.seen["list"]).toEqual(["old", "new"]);
      expect(s.recovered).toEqual(["old", "old"]);
    });
  }

  it("gives up after one resend, and when recovery fails, with the call's own refusal", async () => {
    const s = fakeSession("old", "still-bad");
    const kv = await kvService(new Set());
    const c = client(kv.url, s.session);
    expect(await codeOf(c.get({ key: "k" }))).toBe(Code.Unauthenticated);
    expect(kv.seen["get"]).toEqual(["old", "still-bad"]);
    expect(s.recovered).toEqual(["old"]);

    const failing = fakeSession("old", "new");
    failing.recoverFails = true;
    const c2 = client(kv.url, failing.session);
    const err = await c2.get({ key: "k" }).catch((e: unknown) => ConnectError.from(e));
    expect(err).toMatchObject({ code: Code.Unauthenticated, rawMessage: "token refused" });
    expect(kv.seen["get"]).toEqual(["old", "still-bad", "old"]);
  });

  it("another refusal is not a token problem: no recovery, no resend", async () => {
    const s = fakeSession("tok", "new");
    const served = await serveLoopback(KVService, {
      get: () => {
        throw new ConnectError("no", Code.PermissionDenied);
      },
    });
    cleanups.push(() => served.close());
    expect(await codeOf(client(served.url, s.session).get({ key: "k" }))).toBe(Code.PermissionDenied);
    expect(s.recovered).toEqual([]);
  });

  it("client and bidi streams are sent once with the token; a refusal starts a recovery for the next call", async () => {
    const s = fakeSession("old", "new");
    // As the host refuses a token it does not know: HTTP 401 before the call runs.
    const kv = await kvService(new Set(["new"]), undefined, true);
    const c = client(kv.url, s.session);
    expect(await codeOf(c.putMany(items([{ key: "a" }])))).toBe(Code.Unauthenticated);
    expect(kv.seen["putMany"]).toEqual(["old"]);
    await expect.poll(() => s.recovered, { timeout: 10_000 }).toEqual(["old"]);
    expect((await c.putMany(items([{ key: "a" }, { key: "b" }]))).count).toBe(2);
    expect(kv.seen["putMany"]).toEqual(["old", "new"]);

    s.current = "old";
    expect(await codeOf(collect(c.exchange(items([{ text: "hi" }]))))).toBe(Code.Unauthenticated);
    expect(kv.seen["exchange"]).toEqual(["old"]);
    await expect.poll(() => s.recovered, { timeout: 10_000 }).toEqual(["old", "old"]);
    expect((await collect(c.exchange(items([{ text: "hi" }])))).map((r) => r.text)).toEqual(["hi"]);
    expect(kv.seen["exchange"]).toEqual(["old", "new"]);
  });

  it("a client stream failing for another reason starts no recovery", async () => {
    const s = fakeSession("tok", "new");
    const served = await serveLoopback(KVService, {
      putMany: async () => {
        throw new ConnectError("full", Code.ResourceExhausted);
      },
    });
    cleanups.push(() => served.close());
    expect(await codeOf(client(served.url, s.session).putMany(items([{ key: "a" }])))).toBe(Code.ResourceExhausted);
    expect(s.recovered).toEqual([]);
  });
});

describe("replayed server streams", () => {
  it("an empty stream stays empty", async () => {
    const s = fakeSession("tok", "tok");
    const kv = await kvService(new Set(["tok"]), []);
    expect(await collect(client(kv.url, s.session).list({ prefix: "" }))).toEqual([]);
  });

  it("a server stream refused before its first message for another reason is not resent", async () => {
    const s = fakeSession("tok", "new");
    let calls = 0;
    const served = await serveLoopback(KVService, {
      // eslint-disable-next-line require-yield
      async *list() {
        calls++;
        throw new ConnectError("not for you", Code.PermissionDenied);
      },
    });
    cleanups.push(() => served.close());
    expect(await codeOf(collect(client(served.url, s.session).list({ prefix: "" })))).toBe(Code.PermissionDenied);
    expect(calls).toBe(1);
    expect(s.recovered).toEqual([]);
  });

  it("an error after the first message goes to the caller, without a resend", async () => {
    const s = fakeSession("tok", "new");
    let calls = 0;
    const served = await serveLoopback(KVService, {
      async *list() {
        calls++;
        yield create(ListResponseSchema, { key: "first" });
        throw new ConnectError("gone", Code.Unauthenticated);
      },
    });
    cleanups.push(() => served.close());
    const got: string[] = [];
    const err = await (async () => {
      for await (const r of client(served.url, s.session).list({ prefix: "" })) got.push(r.key);
    })().catch((e: unknown) => ConnectError.from(e));
    expect(got).toEqual(["first"]);
    expect(err).toMatchObject({ code: Code.Unauthenticated });
    expect(calls).toBe(1);
    expect(s.recovered).toEqual([]);
  });
});
