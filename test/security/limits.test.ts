import * as http2 from "node:http2";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryService } from "../../gen/plugboard/v1/registry_pb.js";
import { DEFAULT_LIMITS } from "../../src/protocol/constants.js";
import { bearer } from "../helpers/transports.js";
import { codeOf, KV, startAttackHost, type AttackHost } from "./harness.js";

/** Oversize messages and metadata, on host RPCs and routed calls, over Connect and gRPC. */
let h: AttackHost;
beforeAll(async () => {
  h = await startAttackHost();
});
afterAll(async () => h?.close());

const OVER = DEFAULT_LIMITS.maxMessageBytes + 1024;

describe.each(["connect", "grpc"] as const)("oversize messages over %s", (protocol) => {
  it("a host RPC request over 4 MiB is ResourceExhausted", async () => {
    const registry = createClient(RegistryService, h.transports.make(protocol));
    expect(await codeOf(registry.discover({ serviceType: "a".repeat(OVER) }, bearer(h.consumer.token)))).toBe(Code.ResourceExhausted);
  });

  it("a routed request over 4 MiB is ResourceExhausted", async () => {
    const code = await codeOf(h.kv(h.transports.make(protocol)).put({ key: "k", value: new Uint8Array(OVER) }, bearer(h.consumer.token)));
    expect(code).toBe(Code.ResourceExhausted);
  });

  it("just under the limit still works (the limit is the limit, not lower)", async () => {
    const registry = createClient(RegistryService, h.transports.make(protocol));
    // Refused for its content (InvalidArgument), so it was read in full.
    expect(await codeOf(registry.discover({ serviceType: "a".repeat(DEFAULT_LIMITS.maxMessageBytes - 1024) }, bearer(h.consumer.token)))).toBe(Code.InvalidArgument);
  });
});

describe("oversize metadata", () => {
  it("a header list over maxHeaderListBytes (16 KiB) is refused, and the host keeps serving", async () => {
    const session = http2.connect(h.url);
    session.on("error", () => undefined);
    const outcome = await new Promise<string>((resolve) => {
      const stream = session.request({
        ":method": "POST",
        ":path": "/plugboard.v1.RegistryService/Discover",
        "content-type": "application/json",
        authorization: `Bearer ${h.consumer.token}`,
        "x-pad": "p".repeat(DEFAULT_LIMITS.maxHeaderListBytes * 2),
      });
      stream.on("response", (headers) => resolve(`status ${headers[":status"]}`));
      stream.on("error", (e) => resolve(`error ${(e as NodeJS.ErrnoException).code ?? e.message}`));
      stream.on("close", () => resolve(`closed ${stream.rstCode}`));
      stream.end("{}");
    });
    session.destroy();
    expect(outcome).not.toBe("status 200");
    expect((await h.t.clients("connect").registry.discover({ serviceType: KV }, bearer(h.consumer.token))).providers).toHaveLength(1);
  });

  it("registration metadata past its limits is InvalidArgument", async () => {
    const { registry } = h.t.clients("connect");
    const many = Object.fromEntries(Array.from({ length: DEFAULT_LIMITS.metadataEntries + 1 }, (_, i) => [`k${i}`, "v"]));
    const token = bearer(h.kvProvider.token);
    expect(await codeOf(registry.register({ serviceType: KV, metadata: many }, token))).toBe(Code.InvalidArgument);
    expect(await codeOf(registry.register({ serviceType: KV, metadata: { ["k".repeat(DEFAULT_LIMITS.metadataKeyBytes + 1)]: "v" } }, token))).toBe(Code.InvalidArgument);
    expect(await codeOf(registry.register({ serviceType: KV, metadata: { k: "v".repeat(DEFAULT_LIMITS.metadataValueBytes + 1) } }, token))).toBe(Code.InvalidArgument);
    // Multi-byte characters count in bytes, not characters.
    expect(await codeOf(registry.register({ serviceType: KV, metadata: { k: "é".repeat(DEFAULT_LIMITS.metadataValueBytes / 2 + 1) } }, token))).toBe(Code.InvalidArgument);
  });

  it("refusals do not echo what was sent", async () => {
    const registry = createClient(RegistryService, h.transports.make("connect"));
    const err = await registry.discover({ serviceType: `${"a".repeat(200)}SECRETISH` }, bearer(h.consumer.token)).catch((e) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).message).not.toContain("SECRETISH");
  });
});
