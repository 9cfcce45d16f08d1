import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { GetResponseSchema, KVService } from "../../../gen/kv/v1/kv_pb.js";
import { createHealthProber } from "../../../src/health/prober.js";
import { served, startInProcess, type InProcessPlugin } from "../../../src/launcher/in-process.js";
import { COOKIE, startTestHost, type TestHost } from "../../helpers/host.js";
import { bearer } from "../../helpers/transports.js";

let t: TestHost | undefined;
let plugin: InProcessPlugin | undefined;
const managers: Http2SessionManager[] = [];
afterEach(async () => {
  managers.splice(0).forEach((m) => m.abort());
  await plugin?.stop();
  await t?.close();
  t = plugin = undefined;
});

function kvClient(baseUrl: string, protocol: "connect" | "grpc" = "connect") {
  const sessionManager = new Http2SessionManager(baseUrl);
  managers.push(sessionManager);
  const make = protocol === "grpc" ? createGrpcTransport : createConnectTransport;
  return createClient(KVService, make({ baseUrl, httpVersion: "2", sessionManager }));
}

const codeOf = (p: Promise<unknown>) => p.then(() => "ok", (e) => ConnectError.from(e).code);

describe("in-process plugins", () => {
  it("are reached through the host's registry and router, with its checks, like any plugin", async () => {
    t = await startTestHost({ requireLaunchSecret: true });
    const seen: string[] = [];
    plugin = await startInProcess(t.host, {
      name: "kv-inproc",
      hostUrl: t.url,
      magicCookie: COOKIE,
      provides: [
        served(KVService, {
          get(req, ctx) {
            seen.push(ctx.requestHeader.get("plugboard-caller") ? "signed" : "unsigned");
            return create(GetResponseSchema, { key: req.key, value: new TextEncoder().encode("in-process"), found: true });
          },
        }),
      ],
    });
    const [registration] = await t.host.store.listRegistrations(KVService.typeName);
    expect(registration).toMatchObject({ runtimeId: plugin.runtimeId, pluginName: "kv-inproc", endpoint: plugin.url });

    const consumer = await t.handshake({ pluginName: "consumer", requires: [{ type: KVService.typeName }], launchSecret: t.host.issueLaunchSecret("consumer") });
    for (const protocol of ["connect", "grpc"] as const) {
      const res = await kvClient(t.url, protocol).get({ key: "k" }, bearer(consumer.token));
      expect(new TextDecoder().decode(res.value)).toBe("in-process");
    }
    expect(seen).toEqual(["signed", "signed"]);

    // The router's checks apply: an undeclared dependency is refused before the plugin sees it.
    const stranger = await t.handshake({ pluginName: "stranger", launchSecret: t.host.issueLaunchSecret("stranger") });
    expect(await codeOf(kvClient(t.url).get({ key: "k" }, bearer(stranger.token)))).toBe(Code.PermissionDenied);
    // Calls that bypass the host are refused by the plugin.
    expect(await codeOf(kvClient(plugin.url).get({ key: "k" }, bearer(consumer.token)))).toBe(Code.Unauthenticated);
    expect(seen).toEqual(["signed", "signed"]);

    // It serves grpc.health for the prober.
    const prober = createHealthProber({ store: t.host.store });
    expect(await prober.probeOnce()).toEqual(new Map([[plugin.runtimeId, "serving"]]));
    prober.stop();

    await plugin.stop();
    expect(await t.host.store.listRegistrations(KVService.typeName)).toEqual([]);
    expect(await codeOf(kvClient(t.url).get({ key: "k" }, bearer(consumer.token)))).toBe(Code.Unavailable);
  });
});
