import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type HandlerContext } from "@connectrpc/connect";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GetSecretsRequestSchema } from "../../../gen/plugboard/v1/secrets_pb.js";
import { identityKey } from "../../../src/identity/identity.js";
import { createLogger } from "../../../src/log/index.js";
import {
  createChainSecretProvider,
  createEnvSecretProvider,
  createFileSecretProvider,
  createSecretCache,
  createSecretsService,
  type SecretProvider,
} from "../../../src/secrets/index.js";
import { createAwsSecretProvider } from "../../../src/secrets-aws.js";
import { createVaultSecretProvider } from "../../../src/secrets-vault.js";
import { createMemoryStore } from "../../../src/store/index.js";
import { startFakeSecretsManager, type FakeSecretsManager } from "./fake-aws-sm.js";
import { startFakeVault, type FakeVault } from "./fake-vault.js";
import { runtimeRecord } from "../../store/fixtures.js";

/** Every value below is distinctive, so finding it anywhere in captured text is a leak. */
const SECRETS = {
  env: "ENVLEAK-7f3a9c",
  file: "FILELEAK-2b8e41",
  yaml: "YAMLLEAK-c0ffee",
  vault: "VAULTLEAK-91d2aa",
  vaultOld: "VAULTOLDLEAK-5e6f70",
  aws: "AWSLEAK-d4c3b2",
  awsJson: "AWSJSONLEAK-a1b2c3",
  vaultToken: "hvs.TOKENLEAK-0badf00d",
  awsSecretKey: "AWSKEYLEAK-deadbeef",
};

describe("no secret value reaches logs, audit events or error messages", () => {
  let vault: FakeVault;
  let sm: FakeSecretsManager;
  let dir: string;
  const logLines: string[] = [];
  const captured: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString("utf8"));
      done();
    },
  });
  const logger = createLogger({ level: "trace", destination });
  const providersToClose: SecretProvider[] = [];

  /** Runs an operation, recording everything an operator could see of its failure. */
  const observe = async (operation: () => Promise<unknown>) => {
    try {
      const result = await operation();
      return result;
    } catch (error) {
      const e = error as Error & { rawMessage?: string; cause?: unknown };
      captured.push(String(e), e.message, e.rawMessage ?? "", e.stack ?? "", JSON.stringify(e), String(e.cause ?? ""));
      const connect = ConnectError.from(error);
      captured.push(connect.message, JSON.stringify(connect.details));
      return undefined;
    }
  };

  /** Waits (generously: the renewal timer runs at the token's half-life) until the logs hold `text`. */
  const logged = async (text: string) => {
    for (const deadline = Date.now() + 20_000; !logLines.join("").includes(text); ) {
      if (Date.now() > deadline) throw new Error(`never logged: ${text}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };

  beforeAll(async () => {
    vault = await startFakeVault();
    sm = await startFakeSecretsManager();
    dir = await mkdtemp(join(tmpdir(), "pb-noleak-"));
  });
  afterAll(async () => {
    for (const p of providersToClose) await p.close?.();
    await vault.close();
    await sm.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("exercises every provider, the cache and the service through success and failure", async () => {
    // env
    const env = createEnvSecretProvider({ env: { PB_SECRET_API: SECRETS.env } });
    await observe(() => env.get("api"));
    await observe(() => env.get("api", { version: "2" }));
    await observe(() => env.getMany([{ name: "absent", version: "", optional: false }]));

    // file: directory and a malformed YAML document that holds a value
    await writeFile(join(dir, "db"), SECRETS.file);
    const files = createFileSecretProvider({ path: dir });
    await observe(() => files.get("db"));
    await observe(() => files.get("db", { version: "other" }));
    const yamlPath = join(dir, "doc.yaml");
    await writeFile(yamlPath, `key: [${SECRETS.yaml}\n`);
    const yaml = createFileSecretProvider({ path: yamlPath });
    await observe(() => yaml.get("key"));
    captured.push(JSON.stringify(await yaml.health()));
    await writeFile(join(dir, "doc.json"), `{"key": "${SECRETS.yaml}", broken`);
    await observe(() => createFileSecretProvider({ path: join(dir, "doc.json") }).get("key"));

    // vault: reads, versions, deleted, 403, outage through the cache with logs
    vault.addToken(SECRETS.vaultToken, { ttlSeconds: 1, renewable: true });
    vault.write("app/db", { password: SECRETS.vaultOld });
    vault.write("app/db", { password: SECRETS.vault });
    vault.deleteVersion("app/db", 1);
    vault.write("denied", { value: SECRETS.vault });
    vault.deny("denied");
    const vaultProvider = createVaultSecretProvider({ address: vault.url, token: SECRETS.vaultToken, logger, timeoutMs: 300 });
    providersToClose.push(vaultProvider);
    let clock = 0;
    const vaultCache = createSecretCache(vaultProvider, { ttlMs: 100, staleWindowMs: 1000, errorBackoffMs: 0, logger, now: () => clock });
    await observe(() => vaultCache.get("app/db#password"));
    await observe(() => vaultCache.get("app/db#password", { version: "1" }));
    await observe(() => vaultCache.get("app/db#nofield"));
    await observe(() => vaultCache.get("denied"));
    vault.mode = "down";
    clock += 200;
    await observe(() => vaultCache.get("app/db#password")); // stale, logged as a warning
    clock += 2000;
    await observe(() => vaultCache.get("app/db#password")); // window over: error
    vault.mode = "hang";
    await observe(() => vaultProvider.get("app/db#password"));
    vault.mode = "ok";
    await logged("vault token renewed"); // a token renewal happens (and is logged)
    vault.mode = "down";
    await logged("vault token renewal failed"); // a failed renewal is logged too
    vault.mode = "ok";
    captured.push(JSON.stringify(await vaultProvider.health()));

    // aws: string, JSON field, binary, errors
    sm.put("prod/api", SECRETS.aws);
    sm.put("prod/json", JSON.stringify({ key: SECRETS.awsJson }));
    sm.put("prod/denied", SECRETS.aws);
    sm.deny("prod/denied");
    const aws = createAwsSecretProvider({
      region: "us-east-1",
      endpoint: sm.url,
      credentials: { accessKeyId: "AKIDNOLEAK", secretAccessKey: SECRETS.awsSecretKey },
      maxAttempts: 1,
    });
    providersToClose.push(aws);
    const awsCache = createSecretCache(aws, { ttlMs: 100, staleWindowMs: 1000, errorBackoffMs: 0, logger, now: () => clock });
    await observe(() => awsCache.get("prod/api"));
    await observe(() => awsCache.get("prod/json#key"));
    await observe(() => awsCache.get("prod/json#absent"));
    await observe(() => awsCache.get("prod/api#key")); // not JSON: must not echo the string
    await observe(() => awsCache.get("prod/denied"));
    sm.mode = "throttle";
    clock += 200;
    await observe(() => awsCache.get("prod/api"));
    clock += 2000;
    await observe(() => awsCache.get("prod/api"));
    sm.mode = "reset";
    await observe(() => aws.get("prod/api"));
    sm.mode = "ok";

    // the service over a chain, with audit and logs
    const store = createMemoryStore();
    await store.putRuntime(
      runtimeRecord("rt-9", {
        pluginName: "p",
        nameProof: "launch_secret",
        secrets: [
          { name: "api", version: "", optional: false },
          { name: "prod/json#key", version: "", optional: false },
          { name: "gone", version: "", optional: false },
        ],
      }),
    );
    const auditEvents: unknown[] = [];
    const service = createSecretsService({
      provider: createChainSecretProvider([env, aws]),
      store,
      logger,
      audit: (event) => auditEvents.push(event),
    });
    const values = createContextValues();
    values.set(identityKey, { kind: "runtime", subject: "runtime:rt-9", method: "token", runtimeId: "rt-9", roles: [] });
    const context = { values } as HandlerContext;
    const ok = (await observe(() =>
      Promise.resolve(service.getSecrets!(create(GetSecretsRequestSchema, { names: ["api", "prod/json#key"] }), context)),
    )) as { secrets: unknown[] } | undefined;
    expect(ok?.secrets).toHaveLength(2); // the scenario really handed secrets out
    await observe(() => Promise.resolve(service.getSecrets!(create(GetSecretsRequestSchema, { names: [] }), context)));
    await observe(() => Promise.resolve(service.getSecrets!(create(GetSecretsRequestSchema, { names: ["undeclared"] }), context)));
    sm.mode = "down";
    await observe(() => Promise.resolve(service.getSecrets!(create(GetSecretsRequestSchema, { names: ["prod/json#key"] }), context)));
    sm.mode = "ok";
    captured.push(JSON.stringify(auditEvents));

    // The scenarios did produce output worth checking.
    const logs = logLines.join("");
    expect(logs).toContain("serving cached value");
    expect(logs).toContain("vault token renewed");
    expect(logs).toContain("secrets request refused");
    expect(logs).toContain("secrets handed out");
    expect(captured.join("\n")).toContain("required secret");
    expect(captured.join("\n")).toContain(String(Code[Code.Unavailable]).toLowerCase());

    const everything = `${logs}\n${captured.join("\n")}`;
    for (const [label, value] of Object.entries(SECRETS)) {
      expect(everything.includes(value), `${label} leaked`).toBe(false);
    }
  });
});
