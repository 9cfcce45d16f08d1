import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterEach, expect, it } from "vitest";
import { Health, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from "../../../gen/grpc/health/v1/health_pb.js";
import { HealthState } from "../../../gen/plugboard/v1/common_pb.js";
import { bearer } from "../../helpers/transports.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { eventually } from "../sdk/harness.js";

let t: TestHost;
let provider: http2.Http2Server | undefined;
afterEach(async () => {
  await t?.close();
  provider?.close();
});

it("with healthProbe on, a provider whose probe fails and whose report went stale gets no routed traffic", async () => {
  let serving = true;
  provider = http2.createServer(
    connectNodeAdapter({
      routes: (r) =>
        r.service(Health, {
          check: () =>
            create(HealthCheckResponseSchema, {
              status: serving ? HealthCheckResponse_ServingStatus.SERVING : HealthCheckResponse_ServingStatus.NOT_SERVING,
            }),
        }),
    }),
  );
  await new Promise<void>((resolve) => provider!.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;
  t = await startTestHost({ healthProbe: { intervalMs: 100, timeoutMs: 500, staleAfterMs: 200 } });
  const p = await t.handshake({ baseUrl: url, provides: [{ type: "kv.v1.KVService", version: "1.0.0" }] });
  const { registry } = t.clients("connect");
  await registry.register({ serviceType: "kv.v1.KVService" }, bearer(p.token));
  const healthyProviders = async () => (await registry.discover({ serviceType: "kv.v1.KVService" }, bearer(p.token))).providers.length;

  await new Promise((r) => setTimeout(r, 400));
  expect(await healthyProviders()).toBe(1); // probes pass: still routed to
  serving = false;
  await eventually(async () => expect(await healthyProviders()).toBe(0));
  expect((await t.host.store.getRuntime(p.runtimeId))?.health).toBe(HealthState.UNHEALTHY);
  serving = true;
  await eventually(async () => expect(await healthyProviders()).toBe(1));
});
