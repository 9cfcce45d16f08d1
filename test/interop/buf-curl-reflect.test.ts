import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GetResponseSchema, KVService } from "../../gen/kv/v1/kv_pb.js";
import { fileDescriptorSetOf } from "../../src/reflection/index.js";
import { bearer } from "../helpers/transports.js";
import { startTestHost, type TestHost } from "../helpers/host.js";
import { runCommand } from "../helpers/processes.js";

/** `buf curl --reflect`: a client with no proto files at hand lists and calls a plugin service through the host. */
const BUF = "node_modules/.bin/buf";

let t: TestHost;
let provider: http2.Http2Server;
let token: string;

beforeAll(async () => {
  t = await startTestHost();
  provider = http2.createServer(
    connectNodeAdapter({
      routes: (router) =>
        router.service(KVService, {
          get: (req) => create(GetResponseSchema, { key: req.key, found: true, value: Buffer.from("v") }),
        }),
    }),
  );
  await new Promise<void>((resolve) => provider.listen(0, "127.0.0.1", resolve));
  const p = await t.handshake({ pluginName: "kv", baseUrl: `http://127.0.0.1:${(provider.address() as AddressInfo).port}`, provides: [{ type: KVService.typeName, version: "1.0.0" }] });
  await t.clients("connect").registry.register({ serviceType: KVService.typeName, fileDescriptorSet: fileDescriptorSetOf([KVService]) }, bearer(p.token));
  token = (await t.handshake({ pluginName: "consumer", requires: [{ type: KVService.typeName }] })).token;
});
afterAll(async () => {
  provider.close();
  await t.close();
});

async function bufCurl(args: string[]): Promise<string> {
  const auth = `Authorization: Bearer ${token}`;
  const { code, stdout, stderr } = await runCommand(BUF, ["curl", "--http2-prior-knowledge", "-H", auth, "--reflect-header", auth, ...args], { timeoutMs: 30_000 });
  if (code !== 0) throw new Error(`buf curl failed (exit ${code}): ${stdout} ${stderr}`);
  return stdout;
}

describe("buf curl --reflect through the host", () => {
  it("lists the plugin's service and calls it with no schema", async () => {
    const services = await bufCurl(["--list-services", t.url]);
    expect(services.split("\n")).toContain(KVService.typeName);
    const methods = await bufCurl(["--list-methods", t.url]);
    expect(methods).toContain(`${KVService.typeName}/Get`);
    const res = JSON.parse(await bufCurl(["-d", JSON.stringify({ key: "a" }), `${t.url}/${KVService.typeName}/Get`])) as Record<string, unknown>;
    expect(res).toMatchObject({ key: "a", found: true });
  });
});
