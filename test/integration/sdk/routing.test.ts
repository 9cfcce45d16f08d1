import { describe, expect, it } from "vitest";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { KV_TRAILER } from "../../../examples/kv-provider/kv-service.js";
import { HEADER_CALLER } from "../../../src/protocol/constants.js";
import { createPlugin } from "../../../src/sdk/index.js";
import { createTransports, PROTOCOLS } from "../../helpers/transports.js";
import { bytes, eventually, messages, pluginOptions, text, useHostWithKvPair, enrolled } from "./harness.js";

describe("SDK: consumer → host router → provider", () => {
  const aborted: unknown[] = [];
  const calls: { method: string; caller: string | undefined }[] = [];
  const pair = useHostWithKvPair({
    onListAborted: (reason) => aborted.push(reason),
    onCall: (method, caller) => calls.push({ method, caller }),
  });

  for (const protocol of PROTOCOLS) {
    it(`${protocol}: unary, server, client and bidi streams with trailers`, async () => {
      const kv = pair.consumer.client(KVService, { protocol });
      const trailers: string[] = [];
      const onTrailer = (t: Headers) => trailers.push(t.get(KV_TRAILER) ?? "missing");

      await kv.put({ key: `${protocol}/a`, value: bytes("1") }, { onTrailer });
      const got = await kv.get({ key: `${protocol}/a` }, { onTrailer });
      expect(text(got.value)).toBe("1");

      const summary = await kv.putMany(
        messages([{ key: `${protocol}/b`, value: bytes("2") }, { key: `${protocol}/c`, value: bytes("3") }]),
        { onTrailer },
      );
      expect(summary.count).toBe(2);

      const listed: string[] = [];
      for await (const e of kv.list({ prefix: `${protocol}/` }, { onTrailer })) listed.push(`${e.key}=${text(e.value)}`);
      expect(listed).toEqual([`${protocol}/a=1`, `${protocol}/b=2`, `${protocol}/c=3`]);

      const replies: string[] = [];
      for await (const r of kv.exchange(messages([{ text: "x" }, { text: "y" }]), { onTrailer })) replies.push(r.text);
      expect(replies).toEqual(["echo: x", "echo: y"]);

      expect(trailers).toEqual(Array(5).fill("kv-provider"));
    });
  }

  it("the provider sees the consumer's verified identity", async () => {
    const got = await pair.consumer.client(KVService).get({ key: "who" });
    expect(got.caller).toBe(`runtime:${pair.consumer.runtimeId}`);
  });

  it("a spoofed caller header sent through the host is replaced by the host's", async () => {
    const got = await pair.consumer.client(KVService).get({ key: "who" }, { headers: { [HEADER_CALLER]: "v1.1.e30.forged" } });
    expect(got.caller).toBe(`runtime:${pair.consumer.runtimeId}`);
  });

  it("a direct call to the provider without the host's signed header is refused", async () => {
    const transports = createTransports(pair.provider.url);
    try {
      for (const protocol of PROTOCOLS) {
        const direct = createClient(KVService, transports.make(protocol));
        const err = await direct.get({ key: "x" }).catch((e: unknown) => ConnectError.from(e));
        expect(err).toBeInstanceOf(ConnectError);
        expect((err as ConnectError).code).toBe(Code.Unauthenticated);
        const forged = await direct
          .get({ key: "x" }, { headers: { [HEADER_CALLER]: "v1.1.e30.AAAA" } })
          .catch((e: unknown) => ConnectError.from(e));
        expect((forged as ConnectError).code).toBe(Code.Unauthenticated);
      }
    } finally {
      transports.close();
    }
  });

  it("a caller that did not declare the dependency is refused with PermissionDenied", async () => {
    const stranger = createPlugin(pluginOptions(pair.host.url, { ...(await enrolled(pair.host, "stranger")), name: "stranger" }));
    await stranger.start();
    try {
      const err = await stranger.client(KVService).get({ key: "x" }).catch((e: unknown) => ConnectError.from(e));
      expect((err as ConnectError).code).toBe(Code.PermissionDenied);
    } finally {
      await stranger.stop();
    }
  });

  it("a deadline shorter than the stream ends it with DeadlineExceeded", async () => {
    const kv = pair.consumer.client(KVService);
    await kv.put({ key: "slow/1", value: bytes("1") });
    await kv.put({ key: "slow/2", value: bytes("2") });
    // Each item takes 2 s: only the 300 ms deadline can end the stream with an error.
    const err = await (async () => {
      for await (const _ of kv.list({ prefix: "slow/", delayMs: 2_000 }, { timeoutMs: 300 })) void _;
    })().catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.DeadlineExceeded);
  });

  it("a consumer aborting a List stream aborts the provider's handler", async () => {
    const kv = pair.consumer.client(KVService);
    const before = aborted.length;
    const controller = new AbortController();
    const received: string[] = [];
    const err = await (async () => {
      for await (const e of kv.list({ prefix: "slow/", delayMs: 300 }, { signal: controller.signal })) {
        received.push(e.key);
        controller.abort();
      }
    })().catch((e: unknown) => ConnectError.from(e));
    expect(received).toEqual(["slow/1"]);
    expect((err as ConnectError).code).toBe(Code.Canceled);
    await eventually(() => aborted.length > before, 3_000);
  });

  it("impls see calls with the caller set", () => {
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((c) => c.caller === `runtime:${pair.consumer.runtimeId}`)).toBe(true);
  });
});
