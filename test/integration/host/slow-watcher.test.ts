import * as http2 from "node:http2";
import { afterEach, expect, it } from "vitest";
import { bearer } from "../../helpers/transports.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";

const KV = "kv.v1.KVService";

let t: TestHost;
afterEach(async () => t?.close());

/** One enveloped Connect streaming message. */
function envelope(flags: number, json: string): Buffer {
  const body = Buffer.from(json);
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

it("a watcher that stops reading is cut off with resource_exhausted instead of silently missing events", async () => {
  // Large events fill the transport's buffers quickly: allow big metadata (on few registrations, so pages still fit).
  t = await startTestHost({ limits: { watchBuffer: 8, registrationMetadataBytes: 256 * 1024, registrationsPerRuntime: 4 } });
  const watcher = await t.handshake({ pluginName: "watcher" });
  const provider = await t.handshake({ baseUrl: "http://127.0.0.1:7001", provides: [{ type: KV, version: "1.0.0" }] });

  // A raw HTTP/2 client that never reads: flow control backs up into the host.
  const session = http2.connect(t.url);
  const stream = session.request({
    ":method": "POST",
    ":path": "/plugboard.v1.RegistryService/Watch",
    "content-type": "application/connect+json",
    authorization: `Bearer ${watcher.token}`,
  });
  stream.end(envelope(0, "{}"));
  stream.pause();

  const big = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, "v".repeat(4000)]));
  const { registry } = t.clients("connect");
  for (let i = 0; i < 60; i++) await registry.register({ serviceType: KV, metadata: { ...big, n: String(i) } }, bearer(provider.token));

  // Now read everything: the stream must end with an error end-stream message, not just stop.
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  stream.resume();
  await new Promise((resolve) => stream.once("close", resolve));
  session.close();
  const all = Buffer.concat(chunks);
  let offset = 0;
  let endStream: { error?: { code: string; message: string } } | undefined;
  let events = 0;
  while (offset + 5 <= all.length) {
    const flags = all.readUInt8(offset);
    const len = all.readUInt32BE(offset + 1);
    const body = all.subarray(offset + 5, offset + 5 + len).toString();
    if (flags & 0b10) endStream = JSON.parse(body);
    else events++;
    offset += 5 + len;
  }
  expect(events).toBeLessThan(61);
  expect(endStream?.error?.code).toBe("resource_exhausted");
  expect(endStream?.error?.message).toMatch(/fell more than 8 events behind/);
});
