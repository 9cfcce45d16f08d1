/**
 * connect-node builds each request's URL from its `:authority` and throws, synchronously inside the
 * request handler, when that makes no URL (`::1:5`, `h:99999`): an uncaught exception that ended the whole
 * process. One unauthenticated request could so stop a host (on its connect-es path: host services
 * in JSON), an in-process plugin (and with it its host) or a plugin's own server
 * (test/unit/sdk/plugin-server.test.ts). Each now answers such a request 400 and keeps serving.
 */
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { GetResponseSchema, KVService } from "../../gen/kv/v1/kv_pb.js";
import { served, startInProcess, type InProcessPlugin } from "../../src/launcher/in-process.js";
import { COOKIE, startTestHost, type TestHost } from "../helpers/host.js";
import { rawPostStatus } from "../helpers/raw-post.js";

let t: TestHost | undefined;
let plugin: InProcessPlugin | undefined;
afterEach(async () => {
  await plugin?.stop();
  await t?.close();
  t = plugin = undefined;
});

/** The status a raw POST with `:authority` is answered with. */
const statusOf = (url: string, path: string, authority: string, contentType = "application/json") =>
  rawPostStatus(url, { ":path": path, ":authority": authority, "content-type": contentType });

/** Authorities nghttp2 lets through that make no URL. */
const MALFORMED = ["::1:5", "h.example:99999", "[::1"];
const DISCOVER = "/plugboard.v1.RegistryService/Discover";

describe("a request whose :authority makes no URL", () => {
  it("is answered 400 by the host, which keeps serving", async () => {
    t = await startTestHost();
    for (const authority of MALFORMED) expect([authority, await statusOf(t.url, DISCOVER, authority)]).toEqual([authority, 400]);
    const valid = new URL(t.url).host;
    expect(await statusOf(t.url, DISCOVER, valid)).toBe(401); // unauthenticated, as before
  });

  it("is answered 400 by an in-process plugin's server, and the host keeps serving", async () => {
    t = await startTestHost();
    plugin = await startInProcess(t.host, {
      name: "kv-inproc",
      hostUrl: t.url,
      magicCookie: COOKIE,
      provides: [served(KVService, { get: () => create(GetResponseSchema, { found: true }) })],
    });
    expect(await statusOf(plugin.url, "/kv.v1.KVService/Get", "::1:5")).toBe(400);
    expect(await statusOf(plugin.url, "/kv.v1.KVService/Get", new URL(plugin.url).host)).toBe(401);
    expect(await statusOf(t.url, DISCOVER, new URL(t.url).host)).toBe(401);
  });
});
