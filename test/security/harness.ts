import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { GetResponseSchema, KVService } from "../../gen/kv/v1/kv_pb.js";
import { LogService, WriteResponseSchema } from "../../gen/hostlog/v1/hostlog_pb.js";
import type { AuditRecord } from "../../src/audit/index.js";
import type { PluginHostOptions } from "../../src/host/options.js";
import type { ListenOptions } from "../../src/host/listen.js";
import type { Capability } from "../../src/host/context.js";
import { HEADER_CALLER } from "../../src/protocol/constants.js";
import { verifyCallerHeader } from "../../src/protocol/caller-header.js";
import { createEnvSecretProvider } from "../../src/secrets/index.js";
import { startTestHost, type TestHost } from "../helpers/host.js";
import { bearer, createTransports } from "../helpers/transports.js";

export const KV = KVService.typeName;
export const LOG = LogService.typeName;
export const SECRET_VALUE = "s3cr3t-value-never-logged";

/** What the provider saw of the last routed call. */
export interface ProviderView {
  headers?: Headers;
  /** Subject from the caller header, verified with the provider's own signing key. */
  verifiedSubject?: string;
}

/** The result code of a call, or "ok". */
export async function codeOf(promise: Promise<unknown>): Promise<Code | "ok"> {
  return promise.then(
    () => "ok" as const,
    (e) => ConnectError.from(e).code,
  );
}

/** Calls any method with an empty request and the given headers; server streams are read to their first message. */
export async function callAny(transport: Transport, service: DescService, method: string, headers: Record<string, string>): Promise<Code | "ok"> {
  const client = createClient(service, transport) as unknown as Record<string, (req: object, opts: object) => unknown>;
  const kind = service.method[method]!.methodKind;
  try {
    const result = client[method]!({}, { headers, timeoutMs: 3000 });
    if (kind === "server_streaming") for await (const _ of result as AsyncIterable<unknown>) break;
    else await result;
    return "ok";
  } catch (e) {
    return ConnectError.from(e).code;
  }
}

/**
 * A host with a real KV provider registered through it, a consumer that declared
 * the dependency, an outsider that did not, a grant, and spoiled credentials.
 */
export async function startAttackHost(options: Partial<PluginHostOptions> = {}, listenOptions: ListenOptions = {}) {
  const audit: AuditRecord[] = [];
  const view: ProviderView = {};
  let providerKey = Buffer.alloc(0);
  const provider = http2.createServer(
    connectNodeAdapter({
      routes: (router) =>
        router.service(KVService, {
          async get(req, ctx) {
            view.headers = ctx.requestHeader;
            const claims = verifyCallerHeader(ctx.requestHeader.get(HEADER_CALLER), providerKey, "/kv.v1.KVService/Get");
            if (!claims) throw new ConnectError("unsigned call", Code.Unauthenticated);
            view.verifiedSubject = claims.subject;
            return create(GetResponseSchema, { key: req.key, found: true, caller: claims.subject });
          },
          async put() {
            return {};
          },
        }),
    }),
  );
  const providerSessions = new Set<http2.ServerHttp2Session>();
  provider.on("session", (s) => (providerSessions.add(s), s.on("close", () => providerSessions.delete(s))));
  await new Promise<void>((resolve) => provider.listen(0, "127.0.0.1", resolve));
  const providerUrl = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;

  const logCapability: Capability<typeof LogService> = { service: LogService, impl: { write: () => create(WriteResponseSchema) } };
  const t: TestHost = await startTestHost(
    {
      auditLog: { destination: (r) => audit.push(r) },
      capabilities: [logCapability],
      secrets: { provider: createEnvSecretProvider({ env: { PB_SECRET_DB__PASSWORD: SECRET_VALUE } }) },
      // The hand-registered provider sends no heartbeat: without this its lease (10 s) could end mid-test.
      registrationLeaseMs: 0,
      ...options,
    },
    listenOptions,
  );
  const kvProvider = await t.handshake({ pluginName: "kv", baseUrl: providerUrl, provides: [{ type: KV, version: "1.0.0" }] });
  providerKey = Buffer.from(kvProvider.signingKey);
  const { registry, broker, handshake } = t.clients("connect");
  const registration = await registry.register({ serviceType: KV }, bearer(kvProvider.token));
  const consumer = await t.handshake({
    pluginName: "consumer",
    requires: [{ type: KV, versionRange: "^1.0.0" }],
    capabilities: [LOG],
    secrets: [{ name: "db/password" }],
  });
  const outsider = await t.handshake({ pluginName: "outsider" });
  const grant = await broker.requestCapability({ capabilityType: LOG }, bearer(consumer.token));
  const expired = (await t.host.tokens.issue("runtime", consumer.runtimeId, 1)).token;
  const revoked = (await t.handshake({ pluginName: "gone" })).token;
  await handshake.revoke({}, bearer(revoked));
  await new Promise((r) => setTimeout(r, 5));

  const transports = createTransports(t.url);
  return {
    t,
    url: t.url,
    audit,
    view,
    transports,
    providerUrl,
    kvProvider,
    registrationId: registration.registration!.registrationId,
    consumer,
    outsider,
    grant,
    expired,
    revoked,
    kv: (transport: Transport = transports.make("connect")) => createClient(KVService, transport),
    async close() {
      transports.close();
      await t.close();
      for (const s of providerSessions) s.destroy();
      await new Promise<void>((resolve) => provider.close(() => resolve()));
    },
  };
}

export type AttackHost = Awaited<ReturnType<typeof startAttackHost>>;
