import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import type { DescService } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../../gen/plugboard/v1/admin_pb.js";
import { BrokerService } from "../../../gen/plugboard/v1/broker_pb.js";
import { HandshakeService } from "../../../gen/plugboard/v1/handshake_pb.js";
import { LifecycleService } from "../../../gen/plugboard/v1/lifecycle_pb.js";
import { RegistryService } from "../../../gen/plugboard/v1/registry_pb.js";
import { Health } from "../../../gen/grpc/health/v1/health_pb.js";
import { createTransports } from "../../helpers/transports.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";

/** Calls any method of a service with an empty request and the given headers; returns the code. */
async function call(transport: Transport, service: DescService, method: string, headers: Record<string, string>) {
  const client = createClient(service, transport) as unknown as Record<string, (req: object, opts: object) => unknown>;
  const desc = service.method[method]!;
  try {
    const result = client[method]!({}, { headers, timeoutMs: 3000 });
    if (desc.methodKind === "server_streaming") {
      for await (const _ of result as AsyncIterable<unknown>) break;
    } else await result;
    return "ok";
  } catch (error) {
    return ConnectError.from(error).code;
  }
}

const GUARDED: Array<[DescService, string]> = [
  [HandshakeService, "refreshToken"],
  [HandshakeService, "revoke"],
  [RegistryService, "register"],
  [RegistryService, "unregister"],
  [RegistryService, "discover"],
  [RegistryService, "watch"],
  [BrokerService, "requestCapability"],
  [BrokerService, "revokeGrant"],
  [LifecycleService, "reportHealth"],
  [AdminService, "listRuntimes"],
];

let t: TestHost;
let expired: string;
let revoked: string;
let transports: ReturnType<typeof createTransports>;

beforeAll(async () => {
  // The host's clock is the test's: tokens expire when the test says, not when a loaded machine gets there.
  let clock = Date.now();
  t = await startTestHost({ runtimeTokenTtlMs: 60_000, now: () => clock });
  transports = createTransports(t.url);
  expired = (await t.handshake()).token;
  clock += 60_001;
  revoked = (await t.handshake()).token;
  await t.clients("connect").handshake.revoke({}, { headers: { authorization: `Bearer ${revoked}` } });
});
afterAll(async () => {
  transports.close();
  await t.close();
});

const CREDENTIALS: Array<[string, () => Record<string, string>]> = [
  ["no credential", () => ({})],
  ["a wrong token", () => ({ authorization: `Bearer pbrt_${"A".repeat(43)}` })],
  ["a grant token as runtime token", () => ({ authorization: `Bearer pbgt_${"A".repeat(43)}` })],
  ["a malformed header", () => ({ authorization: "Basic dXNlcjpwYXNz" })],
  ["an expired token", () => ({ authorization: `Bearer ${expired}` })],
  ["a revoked token", () => ({ authorization: `Bearer ${revoked}` })],
];

describe.each(["connect", "grpc", "grpc-web"] as const)("every guarded RPC over %s", (protocol) => {
  for (const [service, method] of GUARDED) {
    it.each(CREDENTIALS)(`${service.name}.${method} refuses %s`, async (_name, headers) => {
      expect(await call(transports.make(protocol), service, method, headers())).toBe(Code.Unauthenticated);
    });
  }

  it("health is public for probes", async () => {
    expect(await call(transports.make(protocol), Health, "check", {})).toBe("ok");
  });
});

it("refusals never carry the presented token", async () => {
  const client = createClient(RegistryService, transports.make("connect"));
  const err = ConnectError.from(await client.discover({ serviceType: "a.B" }, { headers: { authorization: `Bearer ${expired}` } }).catch((e) => e));
  expect(err.code).toBe(Code.Unauthenticated);
  expect(err.message).not.toContain(expired.slice(5));
});
