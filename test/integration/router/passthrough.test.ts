import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { GetRequestSchema } from "../../../gen/kv/v1/kv_pb.js";
import {
  PROTOCOLS,
  TRAILER_NAME,
  clientFactory,
  expectConnectError,
  messages,
  startFront,
  startProvider,
  stubRouterOptions,
} from "./harness.js";

describe("router passthrough (real provider, real connect-es clients)", () => {
  let provider: Awaited<ReturnType<typeof startProvider>>;
  let front: Awaited<ReturnType<typeof startFront>>;
  const pins: (string | undefined)[] = [];
  const seen: { code: string; service: string; method: string }[] = [];
  const clients = clientFactory();

  beforeAll(async () => {
    provider = await startProvider();
    const base = stubRouterOptions(() => provider.url);
    front = await startFront(
      stubRouterOptions(() => provider.url, {
        resolve: (service, caller, pin) => {
          pins.push(pin);
          return base.resolve(service, caller, pin);
        },
        onCallEnd: (i) => seen.push({ code: i.code, service: i.service, method: i.method }),
      }),
    );
  });
  afterAll(async () => {
    clients.close();
    await front.close();
    await provider.close();
  });

  describe.each(PROTOCOLS)("%s", (protocol) => {
    it("unary: forwards, adds a verified caller header, keeps response trailers", async () => {
      const kv = clients.client(protocol, front.url);
      await kv.put({ key: `k-${protocol}`, value: new Uint8Array([1, 2, 3]) });
      let trailer: Headers | undefined;
      const res = await kv.get({ key: `k-${protocol}` }, { onTrailer: (t) => (trailer = t) });
      expect(res.found).toBe(true);
      expect(res.value).toEqual(new Uint8Array([1, 2, 3]));
      expect(res.caller).toBe("runtime:alice");
      expect(trailer?.get(TRAILER_NAME)).toBe("yes");
    });

    it("server stream: all messages and the trailer arrive", async () => {
      const kv = clients.client(protocol, front.url);
      let trailer: Headers | undefined;
      const keys: string[] = [];
      for await (const m of kv.list({ prefix: "p" }, { onTrailer: (t) => (trailer = t) })) keys.push(m.key);
      expect(keys).toEqual(["p0", "p1", "p2"]);
      expect(trailer?.get(TRAILER_NAME)).toBe("yes");
    });

    it("client stream: counts every request message", async () => {
      const kv = clients.client(protocol, front.url);
      const res = await kv.putMany(messages([1, 2, 3, 4].map((i) => ({ key: `m${i}`, value: new Uint8Array([i]) }))));
      expect(res.count).toBe(4);
    });

    it("bidi stream: answers each message", async () => {
      const kv = clients.client(protocol, front.url);
      const out: string[] = [];
      for await (const m of kv.exchange(messages([{ text: "a" }, { text: "b" }]))) out.push(m.text);
      expect(out).toEqual(["echo:a", "echo:b"]);
    });

    it("provider errors pass through with code, message and details", async () => {
      const kv = clients.client(protocol, front.url);
      const err = await expectConnectError(kv.get({ key: "missing" }));
      expect(err.code).toBe(Code.NotFound);
      expect(err.rawMessage).toBe("no such key");
      expect(err.findDetails(GetRequestSchema)[0]?.key).toBe("missing");
    });

    it("a spoofed plugboard-caller header is replaced by the router's signed one", async () => {
      const kv = clients.client(protocol, front.url, "pbrt_alice", { "plugboard-caller": "v1.0.e30.forged" });
      const res = await kv.get({ key: "x" });
      expect(res.caller).toBe("runtime:alice");
    });
  });

  it("strips credentials and plugboard-* headers, passes the pin to resolve, keeps other metadata", async () => {
    const kv = clients.client("connect", front.url, "pbrt_alice", {
      "plugboard-provider": "kv-1",
      "plugboard-grant": "pbgt_secret",
      "x-custom": "kept",
    });
    pins.length = 0;
    await kv.get({ key: "h" });
    expect(pins).toEqual(["kv-1"]);
    const h = provider.log.lastHeaders!;
    expect(h.get("authorization")).toBeNull();
    expect(h.get("plugboard-provider")).toBeNull();
    expect(h.get("plugboard-grant")).toBeNull();
    expect(h.get("x-custom")).toBe("kept");
    expect(h.get("plugboard-caller")).toMatch(/^v1\./);
  });

  it("reports refusals to onCallEnd too", async () => {
    seen.length = 0;
    await expectConnectError(clients.client("grpc", front.url, null).get({ key: "x" }));
    expect(seen.map((s) => s.code)).toEqual(["unauthenticated"]);
  });

  it("reports each call's outcome to onCallEnd", async () => {
    seen.length = 0;
    const kv = clients.client("grpc", front.url);
    await kv.get({ key: "x" });
    await expectConnectError(kv.get({ key: "missing" }));
    const kvc = clients.client("connect", front.url);
    await expectConnectError(kvc.get({ key: "missing" }));
    const kvw = clients.client("grpcweb", front.url);
    await expectConnectError(kvw.get({ key: "missing" }));
    await new Promise((r) => setTimeout(r, 50));
    expect(seen.map((s) => s.code)).toEqual(["ok", "not_found", "not_found", "not_found"]);
    expect(seen[0]).toMatchObject({ service: "kv.v1.KVService", method: "Get" });
  });
});

describe("router passthrough with large payloads (backpressure both ways)", () => {
  let provider: Awaited<ReturnType<typeof startProvider>>;
  let front: Awaited<ReturnType<typeof startFront>>;
  const clients = clientFactory();
  beforeAll(async () => {
    provider = await startProvider();
    front = await startFront(stubRouterOptions(() => provider.url));
  });
  afterAll(async () => {
    clients.close();
    await front.close();
    await provider.close();
  });

  it.each(PROTOCOLS)("%s: 3 MiB unary both ways and a 6 MiB client stream", async (protocol) => {
    const kv = clients.client(protocol, front.url);
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
    await kv.put({ key: "big", value: big });
    const got = await kv.get({ key: "big" });
    expect(got.value.length).toBe(big.length);
    expect(Buffer.compare(Buffer.from(got.value), Buffer.from(big))).toBe(0);
    const chunk = new Uint8Array(64 * 1024).fill(7);
    async function* many() {
      for (let i = 0; i < 100; i++) yield { key: `c${i}`, value: chunk };
    }
    expect((await kv.putMany(many())).count).toBe(100);
  });
});
