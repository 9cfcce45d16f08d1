import http2, { type Http2Server, type ServerHttp2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import {
  connectNodeAdapter,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { afterAll, beforeAll } from "vitest";
import { GetRequestSchema, KVService } from "../../../gen/kv/v1/kv_pb.js";
import type { Identity } from "../../../src/identity/index.js";
import { HEADER_CALLER, verifyCallerHeader } from "../../../src/protocol/index.js";
import { createRouter, type RouterOptions, type RouteTarget } from "../../../src/router/index.js";

export const SIGNING_KEY = Buffer.alloc(32, 7);
/** What a connect-es / connect-go provider declares (Protocol enum: GRPC, GRPC_WEB, CONNECT). */
export const ALL_PROTOCOLS = [1, 2, 3];
export const TRAILER_NAME = "x-provider-trailer";

export const identities: Record<string, Identity> = {
  "pbrt_alice": { kind: "runtime", subject: "runtime:alice", method: "token", runtimeId: "alice", pluginName: "consumer", roles: [] },
  "pbrt_mallory": { kind: "runtime", subject: "runtime:mallory", method: "token", runtimeId: "mallory", roles: [] },
};

export async function listen(server: Http2Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** What the provider observed, for assertions. */
export interface ProviderLog {
  aborted: string[];
  started: string[];
  /** Request headers of the last Get. */
  lastHeaders?: Headers;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      reject(signal.reason);
    });
  });

/** A real connect-node KV provider on loopback; `grpcOnly` serves gRPC alone, as grpcio or grpc-go would. */
export async function startProvider(opts: { grpcOnly?: boolean } = {}) {
  const log: ProviderLog = { aborted: [], started: [] };
  const store = new Map<string, Uint8Array>();
  const sessions = new Set<ServerHttp2Session>();
  const callerOf = (header: string | null, path: string) =>
    verifyCallerHeader(header, SIGNING_KEY, path)?.subject ?? `unverified:${header ?? ""}`;
  const server = http2.createServer(
    connectNodeAdapter({
      ...(opts.grpcOnly ? { connect: false, grpcWeb: false } : {}),
      routes: (r) =>
        r.service(KVService, {
          async get(req, ctx) {
            log.lastHeaders = ctx.requestHeader;
            ctx.responseTrailer.set(TRAILER_NAME, "yes");
            if (req.key === "missing") {
              throw new ConnectError("no such key", Code.NotFound, undefined, [
                { desc: GetRequestSchema, value: { key: req.key } },
              ]);
            }
            if (req.key === "slow") {
              log.started.push("get");
              await sleep(5_000, ctx.signal);
            }
            const value = store.get(req.key);
            return {
              key: req.key,
              value: value ?? new Uint8Array(),
              found: value !== undefined,
              caller: callerOf(ctx.requestHeader.get(HEADER_CALLER), "/kv.v1.KVService/Get"),
            };
          },
          async put(req) {
            store.set(req.key, req.value);
            return {};
          },
          async *list(req, ctx) {
            ctx.signal.addEventListener("abort", () => log.aborted.push("list"));
            log.started.push("list");
            ctx.responseTrailer.set(TRAILER_NAME, "yes");
            const endless = req.prefix === "endless";
            for (let i = 0; endless || i < 3; i++) {
              if (req.delayMs > 0) await sleep(req.delayMs, ctx.signal);
              yield { key: `${req.prefix}${i}`, value: new Uint8Array([i]) };
            }
          },
          async putMany(reqs, ctx) {
            let count = 0;
            for await (const r of reqs) {
              store.set(r.key, r.value);
              count++;
            }
            ctx.responseTrailer.set(TRAILER_NAME, "yes");
            return { count };
          },
          async *exchange(reqs, ctx) {
            ctx.responseHeader.set("x-provider-header", "h");
            ctx.responseTrailer.set(TRAILER_NAME, "yes");
            for await (const r of reqs) {
              if (r.text === "fail") throw new ConnectError("exchange refused", Code.FailedPrecondition);
              yield { text: `echo:${r.text}` };
            }
          },
        }),
    }),
  );
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  const url = await listen(server);
  return {
    url,
    log,
    server,
    /** Kill every connection abruptly, as a crashing provider would. */
    killConnections() {
      for (const s of sessions) s.destroy();
    },
    async close() {
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type Protocol = "connect" | "grpc" | "grpcweb";
export const PROTOCOLS: Protocol[] = ["connect", "grpc", "grpcweb"];

/** Stub policy: tokens map to identities; mallory may not call Put; one service is known. */
export function stubRouterOptions(providerUrl: () => string, extra: Partial<RouterOptions> = {}): RouterOptions {
  return {
    async authenticate(req) {
      const h = req.headers["authorization"];
      const token = typeof h === "string" && h.startsWith("Bearer ") ? h.slice(7) : undefined;
      const id = token !== undefined ? identities[token] : undefined;
      if (!id) throw new ConnectError("missing or invalid credentials", Code.Unauthenticated);
      return id;
    },
    async authorize(caller, _service, method) {
      if (caller.subject === "runtime:mallory" && method === "Put") {
        throw new ConnectError("not allowed", Code.PermissionDenied);
      }
    },
    async resolve(service): Promise<RouteTarget> {
      if (service !== "kv.v1.KVService") throw new ConnectError(`no provider for ${service}`, Code.NotFound);
      // The connect-node provider serves every protocol: calls pass through untranslated (bridge.test.ts covers gRPC-only).
      return { runtimeId: "kv-1", registrationId: "reg-1", endpoint: providerUrl(), signingKey: SIGNING_KEY, protocols: ALL_PROTOCOLS };
    },
    ...extra,
  };
}

export async function startFront(opts: RouterOptions) {
  const router = createRouter(opts);
  const server = http2.createServer((req, res) => router.handle(req, res));
  const url = await listen(server);
  return {
    url,
    router,
    async close() {
      await router.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The provider and clients most files share: started before the file's tests, closed after them. `provider` is
 * read once the tests run (it does not exist before `beforeAll`).
 */
export function useProvider() {
  let started: Awaited<ReturnType<typeof startProvider>> | undefined;
  const clients = clientFactory();
  beforeAll(async () => {
    started = await startProvider();
  });
  afterAll(async () => {
    clients.close();
    await started?.close();
  });
  return {
    clients,
    get provider() {
      return started!;
    },
  };
}

/**
 * A front whose authentication waits until `release()`: its calls stay pending (counted by `waiting()`), for the
 * tests of the pending cap.
 */
export async function startGatedFront(providerUrl: () => string, extra: Partial<RouterOptions> = {}) {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let waiting = 0;
  const base = stubRouterOptions(providerUrl, extra);
  const front = await startFront({
    ...base,
    async authenticate(req) {
      waiting++;
      await gate;
      return base.authenticate(req);
    },
  });
  return { front, release, waiting: () => waiting };
}

/** Real connect-es clients over HTTP/2; close() releases their sessions so servers can close. */
export function clientFactory() {
  const managers: Http2SessionManager[] = [];
  return {
    client(protocol: Protocol, baseUrl: string, token: string | null = "pbrt_alice", extraHeaders: Record<string, string> = {}): Client<typeof KVService> {
      const auth: Interceptor = (next) => (req) => {
        if (token !== null) req.header.set("authorization", `Bearer ${token}`);
        for (const [k, v] of Object.entries(extraHeaders)) req.header.set(k, v);
        return next(req);
      };
      const sessionManager = new Http2SessionManager(baseUrl);
      managers.push(sessionManager);
      const common = { baseUrl, httpVersion: "2" as const, sessionManager, interceptors: [auth] };
      let transport: Transport;
      if (protocol === "connect") transport = createConnectTransport(common);
      else if (protocol === "grpc") transport = createGrpcTransport(common);
      else transport = createGrpcWebTransport(common);
      return createClient(KVService, transport);
    },
    close() {
      for (const m of managers) m.abort();
      managers.length = 0;
    },
  };
}

export async function expectConnectError(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("expected the call to fail");
}

export async function* messages<T>(items: T[]): AsyncIterable<T> {
  for (const i of items) yield i;
}
