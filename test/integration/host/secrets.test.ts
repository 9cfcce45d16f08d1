import { Writable } from "node:stream";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterEach, expect, it } from "vitest";
import { SecretsService } from "../../../gen/plugboard/v1/secrets_pb.js";
import { createLogger } from "../../../src/log/logger.js";
import { createEnvSecretProvider } from "../../../src/secrets/env.js";
import { bearer, createTransports } from "../../helpers/transports.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";

let t: TestHost;
let transports: ReturnType<typeof createTransports>;
afterEach(async () => {
  transports?.close();
  await t?.close();
});

it("hands each plugin only the secrets it declared and the policy allows, and never logs a value", async () => {
  const env = { PB_SECRET_OPENAI__API_KEY: "sk-live-123456789", PB_SECRET_DB__PASSWORD: "hunter2-very-secret" };
  const lines: string[] = [];
  const logger = createLogger({ level: "trace", destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
  t = await startTestHost({
    logger,
    secrets: { provider: createEnvSecretProvider({ env }), policy: (plugin, name) => !(plugin === "kv" && name === "db/password") },
  });
  transports = createTransports(t.url);
  const secrets = createClient(SecretsService, transports.make("grpc"));

  const kv = await t.handshake({ secrets: [{ name: "openai/api_key" }, { name: "db/password", optional: true }] });
  const got = await secrets.getSecrets({}, bearer(kv.token));
  // The optional secret the policy refuses is left out; the declared, allowed one is delivered.
  expect(got.secrets.map((s) => [s.name, Buffer.from(s.value).toString()])).toEqual([["openai/api_key", "sk-live-123456789"]]);

  const refused = ConnectError.from(await secrets.getSecrets({ names: ["db/password"] }, bearer(kv.token)).catch((e) => e));
  expect(refused.code).toBe(Code.PermissionDenied);
  const undeclared = await t.handshake({ pluginName: "nosy" });
  expect(ConnectError.from(await secrets.getSecrets({ names: ["openai/api_key"] }, bearer(undeclared.token)).catch((e) => e)).code).toBe(
    Code.PermissionDenied,
  );
  // A required secret the provider lacks refuses the handshake itself (secret-admission.test.ts has the details).
  const failed = ConnectError.from(await t.handshake({ pluginName: "needy", secrets: [{ name: "not/there" }] }).catch((e) => e));
  expect(failed.code).toBe(Code.FailedPrecondition);
  expect(failed.message).toContain("not/there");
  expect(ConnectError.from(await secrets.getSecrets({}).catch((e) => e)).code).toBe(Code.Unauthenticated);

  const logged = lines.join("");
  expect(logged).toContain("secret");
  for (const value of Object.values(env)) expect(logged).not.toContain(value);
});
