/**
 * A plugin's own server must refuse every call that the host did not sign with the plugin's
 * current key — in every phase of its life: before its first handshake (no key yet), while it
 * holds a key, after its session ended (key gone), and after a re-handshake replaced the key.
 */
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { GetResponseSchema, KVService } from "../../gen/kv/v1/kv_pb.js";
import { signCallerHeader } from "../../src/protocol/caller-header.js";
import { HEADER_CALLER } from "../../src/protocol/constants.js";
import { silentLogger } from "../../src/log/logger.js";
import { createPlugin, provide } from "../../src/sdk/index.js";
import { startPluginServer, type PluginServer } from "../../src/sdk/server.js";
import { COOKIE } from "../helpers/host.js";
import { createTransports } from "../helpers/transports.js";

const GET = "/kv.v1.KVService/Get";
const keyA = Buffer.alloc(32, 0xa1);
const keyB = Buffer.alloc(32, 0xb2);
const impl = { get: () => create(GetResponseSchema, { value: new TextEncoder().encode("v"), found: true }) };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Calls Get on a plugin server with no caller header, one signed with keyA, and one signed with keyB. */
async function outcomes(url: string): Promise<Record<"unsigned" | "keyA" | "keyB", Code | "ok">> {
  const transports = createTransports(url);
  try {
    const kv = createClient(KVService, transports.make("connect"));
    const call = (header?: string) =>
      kv.get({ key: "k" }, header ? { headers: { [HEADER_CALLER]: header } } : {}).then(
        () => "ok" as const,
        (e: unknown) => ConnectError.from(e).code,
      );
    const signed = (key: Buffer) => signCallerHeader({ subject: "runtime:rt_caller", method: "token", path: GET }, key);
    return { unsigned: await call(), keyA: await call(signed(keyA)), keyB: await call(signed(keyB)) };
  } finally {
    transports.close();
  }
}

describe("plugin server without and with a signing key", () => {
  it("refuses everything while it holds no key, accepts only its current key's signature", async () => {
    let key: Buffer | undefined;
    const server: PluginServer = await startPluginServer({
      services: [provide(KVService, impl)],
      signingKey: () => key,
      port: 0,
      hostname: "127.0.0.1",
      maxMessageBytes: 4 << 20,
    });
    cleanups.push(() => server.close());
    const refusedAll = { unsigned: Code.Unauthenticated, keyA: Code.Unauthenticated, keyB: Code.Unauthenticated };

    expect(await outcomes(server.url)).toEqual(refusedAll); // before the handshake
    key = keyA;
    expect(await outcomes(server.url)).toEqual({ unsigned: Code.Unauthenticated, keyA: "ok", keyB: Code.Unauthenticated });
    key = keyB; // a re-handshake replaced the key: the old one no longer works
    expect(await outcomes(server.url)).toEqual({ unsigned: Code.Unauthenticated, keyA: Code.Unauthenticated, keyB: "ok" });
    key = undefined; // the session ended
    expect(await outcomes(server.url)).toEqual(refusedAll);
  });
});

describe("createPlugin before its handshake completes", () => {
  it("its server already listens and refuses every call, signed or not", async () => {
    // A host that accepts the handshake request and never answers: the plugin stays between
    // "server started" and "handshake done" for as long as the test needs.
    const stalled = http2.createServer();
    const streams: http2.Http2Stream[] = [];
    stalled.on("stream", (stream) => streams.push(stream));
    await new Promise<void>((resolve) => stalled.listen(0, "127.0.0.1", resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of streams) s.close(http2.constants.NGHTTP2_CANCEL);
          stalled.close(() => resolve());
        }),
    );
    const plugin = createPlugin({
      hostUrl: `http://127.0.0.1:${(stalled.address() as AddressInfo).port}`,
      name: "kv",
      version: "1.0.0",
      magicCookie: COOKIE,
      provides: [provide(KVService, impl)],
      listen: { port: 0, hostname: "127.0.0.1" },
      shutdownSignals: false,
      heartbeatMs: 0,
      logger: silentLogger(),
    });
    const starting = plugin.start().catch(() => undefined);
    cleanups.push(async () => {
      await plugin.stop().catch(() => undefined);
      await starting;
    });
    await expect.poll(() => streams.length, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(plugin.url).not.toBe("");
    expect(await outcomes(plugin.url)).toEqual({
      unsigned: Code.Unauthenticated,
      keyA: Code.Unauthenticated,
      keyB: Code.Unauthenticated,
    });
  });
});
