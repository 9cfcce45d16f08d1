import { create } from "@bufbuild/protobuf";
import { context, propagation, trace, SpanKind } from "@opentelemetry/api";
import { AsyncHooksContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { GetResponseSchema, KVService } from "../../../gen/kv/v1/kv_pb.js";
import { createPlugin, provide, requireService, type Plugin } from "../../../src/sdk/index.js";
import { tracingEnabled } from "../../../src/tracing/index.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { enrolled, eventually, pluginOptions } from "./harness.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  closers.length = 0;
});
afterAll(() => {
  trace.disable();
  context.disable();
  propagation.disable();
});

/** Host, a KV provider that answers with the `traceparent` it received, and a consumer. */
async function fleet(): Promise<{ host: TestHost; consumer: Plugin }> {
  const host = await startTestHost();
  closers.push(() => host.close());
  const provider = createPlugin(
    pluginOptions(host.url, {
      name: "echo",
      ...(await enrolled(host, "echo")),
      provides: [
        provide(KVService, {
          async get(req, ctx) {
            return create(GetResponseSchema, { key: req.key, found: true, value: new TextEncoder().encode(ctx.requestHeader.get("traceparent") ?? "") });
          },
        }),
      ],
    }),
  );
  await provider.start();
  closers.push(() => provider.stop());
  const consumer = createPlugin(pluginOptions(host.url, { name: "consumer", ...(await enrolled(host, "consumer")), requires: [requireService(KVService)] }));
  await consumer.start();
  closers.push(() => consumer.stop());
  return { host, consumer };
}

describe("tracing", () => {
  it("without an OpenTelemetry SDK: no spans, and a caller's traceparent reaches the provider untouched", async () => {
    expect(tracingEnabled()).toBe(false);
    const { consumer } = await fleet();
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const res = await consumer.client(KVService).get({ key: "a" }, { headers: { traceparent } });
    expect(new TextDecoder().decode(res.value)).toBe(traceparent);
  });

  it("with an SDK: client → router span → provider span in one trace, with caller, service, method, provider runtime and code", async () => {
    const exporter = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    context.setGlobalContextManager(new AsyncHooksContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    expect(tracingEnabled()).toBe(true);

    const { host: fleetHost, consumer } = await fleet();
    const root = trace.getTracer("test").startSpan("checkout");
    const res = await context.with(trace.setSpan(context.active(), root), () => consumer.client(KVService).get({ key: "a" }));
    root.end();

    const byParent = (parent: ReadableSpan, name: string) =>
      exporter.getFinishedSpans().find((s) => s.name === name && s.parentSpanContext?.spanId === parent.spanContext().spanId);
    const checkout = (await eventually(() => exporter.getFinishedSpans().find((s) => s.name === "checkout")))!;
    const routed = (await eventually(() => byParent(checkout, "kv.v1.KVService/Get")))!;
    const served = (await eventually(() => byParent(routed, "kv.v1.KVService/Get")))!;
    expect(routed.spanContext().traceId).toBe(checkout.spanContext().traceId);
    expect(routed.kind).toBe(SpanKind.SERVER);
    expect(routed.attributes).toMatchObject({
      "rpc.service": "kv.v1.KVService",
      "rpc.method": "Get",
      "plugboard.code": "ok",
      "plugboard.caller": expect.stringMatching(/consumer|runtime:/),
      "plugboard.provider.runtime_id": expect.stringMatching(/^rt_/),
    });
    expect(served.attributes).toMatchObject({ "plugboard.code": "ok", "plugboard.caller": routed.attributes["plugboard.caller"] });
    // The provider received the router's span as its parent, not the consumer's.
    expect(new TextDecoder().decode(res.value)).toContain(routed.spanContext().spanId);

    // The host app's own calls (host.client) are client spans, parents of the provider's span.
    const appRoot = trace.getTracer("test").startSpan("host-app");
    await context.with(trace.setSpan(context.active(), appRoot), () => fleetHost.host.client(KVService).get({ key: "b" }));
    appRoot.end();
    const hostApp = (await eventually(() => exporter.getFinishedSpans().find((s) => s.name === "host-app")))!;
    const appCall = (await eventually(() => byParent(hostApp, "kv.v1.KVService/Get")))!;
    expect(appCall.kind).toBe(SpanKind.CLIENT);
    expect(appCall.attributes).toMatchObject({ "plugboard.caller": "host", "plugboard.code": "ok" });
    expect(await eventually(() => byParent(appCall, "kv.v1.KVService/Get"))).toBeDefined();

    // A refused routed call is a span too, with the refusal's code and ERROR status.
    const { Code, ConnectError } = await import("@connectrpc/connect");
    const refused = await consumer.client(KVService, { pin: "no-such-runtime" }).get({ key: "a" }).catch((e: unknown) => ConnectError.from(e));
    expect(refused).toBeInstanceOf(ConnectError);
    const refusedSpan = await eventually(() => exporter.getFinishedSpans().find((s) => s.name === "kv.v1.KVService/Get" && s.attributes["plugboard.code"] !== "ok"));
    expect(refusedSpan!.status.code).toBe(2 /* SpanStatusCode.ERROR */);
    expect(refusedSpan!.attributes["plugboard.code"]).toBe(codeName((refused as InstanceType<typeof ConnectError>).code, Code));

    // Host RPCs are spans too (the plugins' handshakes and registrations).
    const hostSpans = exporter.getFinishedSpans().filter((s) => s.name.startsWith("plugboard.v1."));
    expect(hostSpans.map((s) => s.name)).toContain("plugboard.v1.HandshakeService/Handshake");
    expect(hostSpans.find((s) => s.name.endsWith("/Register"))?.attributes).toMatchObject({ "plugboard.code": "ok", "plugboard.caller": expect.any(String) });
  });
});

/** `Code.NotFound` → "not_found", as Connect names codes on the wire. */
function codeName(code: number, codes: Record<string, unknown>): string {
  const name = Object.keys(codes).find((k) => codes[k] === code) ?? "Unknown";
  return name.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}
