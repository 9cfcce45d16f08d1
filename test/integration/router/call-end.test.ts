/**
 * Issue 20: how a routed call's end is recorded and told. A call its caller cancels is recorded as
 * `canceled` (not `ok`); grpc-message is percent-encoded only as the gRPC spec asks (`%` and bytes
 * outside 0x20–0x7E), so a reader that decodes per the spec (as grpc-js does) sees the text as written.
 */
import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import type { CallEndInfo } from "../../../src/router/index.js";
import { PROTOCOLS, clientFactory, expectConnectError, startFront, startProvider, stubRouterOptions } from "./harness.js";

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Percent-decoding as the gRPC spec (and grpc-js) reads grpc-message: %XX → byte, nothing else. */
function decodeGrpcMessageSpec(raw: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === "%" && /^[0-9A-Fa-f]{2}$/.test(raw.slice(i + 1, i + 3))) {
      bytes.push(parseInt(raw.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(raw.charCodeAt(i));
  }
  return Buffer.from(bytes).toString("utf8");
}

const TEXT = "missing credential: send authorization: Bearer <runtime token> — 100% «sure»\u0007";

describe("how a routed call's end is recorded and told", () => {
  let provider: Awaited<ReturnType<typeof startProvider>>;
  let front: Awaited<ReturnType<typeof startFront>>;
  const ends: CallEndInfo[] = [];
  const clients = clientFactory();

  beforeAll(async () => {
    provider = await startProvider();
    const base = stubRouterOptions(() => provider.url);
    front = await startFront({
      ...base,
      async authenticate(req) {
        if (req.headers["authorization"] === undefined) throw new ConnectError(TEXT, Code.Unauthenticated);
        return base.authenticate(req);
      },
      onCallEnd: (info) => ends.push(info),
    });
  });
  afterAll(async () => {
    clients.close();
    await front.close();
    await provider.close();
  });

  describe.each(PROTOCOLS)("%s", (protocol) => {
    it("a call its caller cancels mid-stream is recorded as canceled", async () => {
      const kv = clients.client(protocol, front.url);
      const ac = new AbortController();
      const before = ends.length;
      const err = await expectConnectError(
        (async () => {
          let n = 0;
          for await (const _ of kv.list({ prefix: "endless", delayMs: 20 }, { signal: ac.signal })) if (++n === 2) ac.abort();
        })(),
      );
      expect(err.code).toBe(Code.Canceled);
      await until(() => ends.length > before);
      expect(ends.slice(before).map((e) => e.code)).toEqual(["canceled"]);
    });

    it("a unary call its caller cancels while the provider works is recorded as canceled", async () => {
      const kv = clients.client(protocol, front.url);
      const ac = new AbortController();
      const before = ends.length;
      const startedBefore = provider.log.started.length;
      const call = expectConnectError(kv.get({ key: "slow" }, { signal: ac.signal }));
      await until(() => provider.log.started.length > startedBefore);
      ac.abort();
      expect((await call).code).toBe(Code.Canceled);
      await until(() => ends.length > before);
      expect(ends.slice(before).map((e) => e.code)).toEqual(["canceled"]);
    });
  });

  it.each([
    ["application/grpc+proto", "header"],
    ["application/grpc-web+proto", "body"],
  ] as const)("grpc-message the router writes (%s) is encoded only as the gRPC spec asks", async (contentType, where) => {
    const session = http2.connect(front.url);
    try {
      const req = session.request({ ":method": "POST", ":path": "/kv.v1.KVService/Get", "content-type": contentType });
      req.end(Buffer.from([0, 0, 0, 0, 0]));
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => req.on("response", resolve));
      await new Promise((r) => req.on("close", r));
      let raw: string;
      if (where === "header") raw = String(headers["grpc-message"]);
      else {
        const body = Buffer.concat(chunks);
        const trailer = body.subarray(5, 5 + body.readUInt32BE(1)).toString("latin1");
        raw = /grpc-message: ?(.*)\r\n/i.exec(trailer)?.[1] ?? "";
      }
      // Printable ASCII only, and nothing encoded that the spec leaves as is.
      expect(raw).toMatch(/^[\x20-\x7e]*$/);
      expect(raw).toContain("missing credential: send authorization: Bearer <runtime token>");
      expect(decodeGrpcMessageSpec(raw)).toBe(TEXT);
    } finally {
      session.close();
    }
  });
});
