import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { GetResponseSchema, KVService } from "../../../gen/kv/v1/kv_pb.js";
import { identityKey } from "../../../src/identity/identity.js";
import { callerKey, createPlugin, provide, requireService, type Plugin } from "../../../src/sdk/index.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { pluginOptions, enrolled } from "./harness.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  closers.length = 0;
});
async function started(plugin: Plugin): Promise<Plugin> {
  await plugin.start();
  closers.push(() => plugin.stop());
  return plugin;
}
async function host(options: Parameters<typeof startTestHost>[0] = {}): Promise<TestHost> {
  const t = await startTestHost(options);
  closers.push(() => t.close());
  return t;
}

/** A KV provider whose Get echoes a request header, and hangs on key "hang" until the call ends. */
function echoProvider(url: string, proof: { enrolmentToken: string }, server: Interceptor[]) {
  return createPlugin(
    pluginOptions(url, {
      ...proof,
      name: "echo",
      interceptors: { server },
      provides: [
        provide(KVService, {
          async get(req, ctx) {
            if (req.key === "hang") await new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
            return create(GetResponseSchema, { key: req.key, found: true, value: new TextEncoder().encode(ctx.requestHeader.get("x-trace") ?? "") });
          },
        }),
      ],
    }),
  );
}

describe("connect-es hooks are passed through", () => {
  it("createPlugin interceptors: server ones wrap served calls (caller known), client ones every routed call", async () => {
    const t = await host();
    const served: { method: string; caller: string | undefined; contentType: string | null }[] = [];
    await started(
      echoProvider(t.url, await enrolled(t, "echo"), [
        (next) => async (req) => {
          served.push({ method: req.method.name, caller: req.contextValues.get(callerKey)?.pluginName, contentType: req.header.get("content-type") });
          return next(req);
        },
      ]),
    );
    const sent: string[] = [];
    const consumer = await started(
      createPlugin(
        pluginOptions(t.url, {
          ...(await enrolled(t, "tracer")),
          name: "tracer",
          requires: [requireService(KVService)],
          interceptors: {
            client: [
              (next) => async (req) => {
                sent.push(req.method.name);
                req.header.set("x-trace", "trace-42");
                return next(req);
              },
            ],
          },
        }),
      ),
    );
    const res = await consumer.client(KVService).get({ key: "a" });
    expect(new TextDecoder().decode(res.value)).toBe("trace-42");
    expect(sent).toEqual(["Get"]);
    expect(served).toEqual([{ method: "Get", caller: "tracer", contentType: "application/proto" }]);

    // client(Service, options) takes transport options: JSON instead of binary, a default timeout.
    const json = consumer.client(KVService, { useBinaryFormat: false });
    await json.get({ key: "b" });
    expect(served.at(-1)).toMatchObject({ contentType: "application/json" });

    const impatient = consumer.client(KVService, { defaultTimeoutMs: 300 });
    const err = ConnectError.from(await impatient.get({ key: "hang" }).catch((e: unknown) => e));
    expect(err.code).toBe(Code.DeadlineExceeded);
    expect(sent.length).toBe(3);
  });

  it("createPluginHost interceptors wrap the host's own services and see the caller's identity", async () => {
    const seen: string[] = [];
    const t = await host({
      interceptors: [
        (next) => async (req) => {
          const who = req.contextValues.get(identityKey);
          seen.push(`${req.service.typeName.replace("plugboard.v1.", "")}/${req.method.name} ${who?.kind ?? "anonymous"}`);
          return next(req);
        },
      ],
    });
    const provider = await started(echoProvider(t.url, await enrolled(t, "echo"), []));
    await provider.reportHealth("degraded");
    expect(seen).toEqual([
      "HandshakeService/Handshake anonymous",
      "RegistryService/Register runtime",
      "LifecycleService/ReportHealth runtime",
    ]);
  });
});
