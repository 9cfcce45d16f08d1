import { expect, it } from "vitest";

// The built package (dist/, built by test/global-setup.ts) exposes what the README's quick starts and docs/api.md import.
it("exports createPluginHost from plugboard and createPlugin from plugboard/sdk", async () => {
  const host = (await import("plugboard" as string)) as Record<string, unknown>;
  const sdk = (await import("plugboard/sdk" as string)) as Record<string, unknown>;
  expect(typeof host["createPluginHost"]).toBe("function");
  expect(typeof host["createMemoryStore"]).toBe("function");
  expect(typeof sdk["createPlugin"]).toBe("function");
  expect(typeof sdk["provide"]).toBe("function");
  expect(typeof sdk["requireService"]).toBe("function");
});

it("exports the generated types the API takes: plugboard/gen/* and SelectionStrategy from plugboard/sdk", async () => {
  const registry = (await import("plugboard/gen/plugboard/v1/registry_pb.js" as string)) as Record<string, unknown>;
  const admin = (await import("plugboard/gen/plugboard/v1/admin_pb" as string)) as Record<string, unknown>;
  const sdk = (await import("plugboard/sdk" as string)) as Record<string, unknown>;
  expect(registry["SelectionStrategy"]).toBeDefined();
  expect(sdk["SelectionStrategy"]).toBe(registry["SelectionStrategy"]);
  expect((admin["AdminService"] as { typeName: string }).typeName).toBe("plugboard.v1.AdminService");
});

it("exports the optional integrations under their own subpaths", async () => {
  const redis = (await import("plugboard/redis" as string)) as Record<string, unknown>;
  const aws = (await import("plugboard/secrets/aws" as string)) as Record<string, unknown>;
  const vault = (await import("plugboard/secrets/vault" as string)) as Record<string, unknown>;
  expect(typeof redis["createRedisStore"]).toBe("function");
  expect(typeof redis["createPluginHostWithRedis"]).toBe("function");
  expect(typeof aws["createAwsSecretProvider"]).toBe("function");
  expect(typeof vault["createVaultSecretProvider"]).toBe("function");
});
