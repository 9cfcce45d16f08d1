/**
 * Issue 20: grpc-message of host RPCs (connect-es encodes it with encodeURIComponent) is re-encoded
 * as the gRPC spec asks: only `%` and bytes outside 0x20–0x7E, so grpc-js callers read it as written.
 */
import http2 from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import { startTestHost, type TestHost } from "../../helpers/host.js";

let t: TestHost | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe("grpc-message of host RPCs", () => {
  it("a refused gRPC host RPC says 'missing credential: …' with its colons and spaces as written", async () => {
    t = await startTestHost();
    const session = http2.connect(t.url);
    try {
      const req = session.request({ ":method": "POST", ":path": "/plugboard.v1.RegistryService/Discover", "content-type": "application/grpc", te: "trailers" });
      req.end(Buffer.from([0, 0, 0, 0, 0]));
      req.resume();
      const seen: http2.IncomingHttpHeaders[] = [];
      req.on("response", (h) => seen.push(h));
      req.on("trailers", (h) => seen.push(h));
      await new Promise((r) => req.on("close", r));
      const raw = seen.map((h) => h["grpc-message"]).find((v) => v !== undefined);
      expect(String(raw)).toMatch(/^[\x20-\x7e]*$/);
      expect(String(raw)).toContain("missing credential: send authorization: Bearer");
    } finally {
      session.close();
    }
  });
});
