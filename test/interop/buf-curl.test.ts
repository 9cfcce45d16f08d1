import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GetResponseSchema, KVService } from "../../gen/kv/v1/kv_pb.js";
import { HEADER_CALLER } from "../../src/protocol/constants.js";
import { verifyCallerHeader } from "../../src/protocol/caller-header.js";
import { COOKIE, startTestHost, type TestHost } from "../helpers/host.js";
import { runCommand } from "../helpers/processes.js";

/**
 * A client not written in this project: the buf CLI's `buf curl` (Go's Connect/gRPC
 * implementation) drives the whole plugin protocol from the .proto files alone.
 */
const BUF = "node_modules/.bin/buf";

async function bufCurl(protocol: "connect" | "grpc", url: string, body: object, token?: string): Promise<Record<string, unknown>> {
  const args = ["curl", "--schema", ".", "--protocol", protocol, "--http2-prior-knowledge", "-d", JSON.stringify(body)];
  if (token) args.push("-H", `Authorization: Bearer ${token}`);
  const { code, stdout, stderr } = await runCommand(BUF, [...args, url], { timeoutMs: 20_000 });
  if (code !== 0) throw new Error(`buf curl failed (exit ${code}): ${stdout} ${stderr}`);
  return JSON.parse(stdout) as Record<string, unknown>;
}

let t: TestHost;
let provider: http2.Http2Server;
let providerKey: Buffer | undefined;

beforeAll(async () => {
  t = await startTestHost();
  // The provider trusts only calls carrying a caller header signed with its handshake key.
  provider = http2.createServer(
    connectNodeAdapter({
      routes: (router) =>
        router.service(KVService, {
          async get(req, context) {
            const claims = verifyCallerHeader(context.requestHeader.get(HEADER_CALLER), providerKey!, "/kv.v1.KVService/Get");
            if (!claims) throw new ConnectError("unsigned call", Code.Unauthenticated);
            return create(GetResponseSchema, { key: req.key, found: true, value: Buffer.from("v"), caller: claims.pluginName ?? "" });
          },
        }),
    }),
  );
  await new Promise<void>((resolve) => provider.listen(0, "127.0.0.1", resolve));
});
afterAll(async () => {
  provider.close();
  await t.close();
});

describe.each(["connect", "grpc"] as const)("buf curl over %s", (protocol) => {
  it("handshakes, registers, discovers and calls a plugin through the router", async () => {
    const port = (provider.address() as AddressInfo).port;
    const rpc = (path: string) => `${t.url}/${path}`;
    // Foreign plugins prove their names with enrolment tokens an operator minted for them.
    const hello = async (name: string, extra: object) => ({
      enrolmentToken: (await t.host.issueEnrolmentToken(name)).token,
      magicCookieKey: COOKIE.key,
      magicCookieValue: COOKIE.value,
      coreProtocolVersion: 1,
      appProtocolRanges: ["^1.0.0"],
      pluginName: name,
      pluginVersion: "1.0.0",
      ...extra,
    });

    const p = await bufCurl(protocol, rpc("plugboard.v1.HandshakeService/Handshake"), await hello("go-kv", {
      baseUrl: `http://127.0.0.1:${port}`,
      provides: [{ type: "kv.v1.KVService", version: "1.0.0" }],
    }));
    expect(p["runtimeToken"]).toMatch(/^pbrt_/);
    providerKey = Buffer.from(p["callerSigningKey"] as string, "base64");
    const reg = await bufCurl(protocol, rpc("plugboard.v1.RegistryService/Register"), { serviceType: "kv.v1.KVService" }, p["runtimeToken"] as string);
    expect(reg["registration"]).toMatchObject({ serviceType: "kv.v1.KVService", runtimeId: p["runtimeId"] });

    const c = await bufCurl(protocol, rpc("plugboard.v1.HandshakeService/Handshake"), await hello("py-consumer", {
      requires: [{ type: "kv.v1.KVService", versionRange: "^1.0.0" }],
    }));
    const token = c["runtimeToken"] as string;
    const found = await bufCurl(protocol, rpc("plugboard.v1.RegistryService/Discover"), { serviceType: "kv.v1.KVService" }, token);
    expect((found["selected"] as Record<string, unknown>)["runtimeId"]).toBe(p["runtimeId"]);

    const got = await bufCurl(protocol, rpc("kv.v1.KVService/Get"), { key: "k" }, token);
    expect(got).toMatchObject({ key: "k", found: true, caller: "py-consumer" });

    // Without a token the router refuses in the client's own protocol.
    await expect(bufCurl(protocol, rpc("kv.v1.KVService/Get"), { key: "k" })).rejects.toThrow(/unauthenticated/i);

    // Both plugins leave: revoke ends their runtimes and the registration.
    await bufCurl(protocol, rpc("plugboard.v1.HandshakeService/Revoke"), {}, p["runtimeToken"] as string);
    await bufCurl(protocol, rpc("plugboard.v1.HandshakeService/Revoke"), {}, token);
    expect(await t.host.store.listRegistrations()).toEqual([]);
  });
});
