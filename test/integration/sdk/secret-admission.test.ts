import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../../src/audit/audit.js";
import { createEnvSecretProvider } from "../../../src/secrets/env.js";
import { createFileSecretProvider } from "../../../src/secrets/file.js";
import { createChainSecretProvider } from "../../../src/secrets/chain.js";
import { secretUnavailable } from "../../../src/secrets/errors.js";
import type { SecretProvider } from "../../../src/secrets/types.js";
import { createPlugin, type PluginOptions } from "../../../src/sdk/index.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { pluginOptions, text, enrolled } from "./harness.js";

const VALUE = "hunter2-do-not-print";

/** Starts a plugin declaring `secrets` against `host`; resolves with the start error (or undefined) and stops it. */
async function startError(host: TestHost, secrets: PluginOptions["secrets"]): Promise<ConnectError | undefined> {
  const plugin = createPlugin(pluginOptions(host.url, { ...(await enrolled(host, "needs-secrets")), name: "needs-secrets", secrets }));
  try {
    await plugin.start();
    await plugin.stop();
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(ConnectError);
    return e as ConnectError;
  }
}

describe("required secrets are checked when the plugin is admitted", () => {
  let dir: string;
  const audits: AuditEvent[] = [];
  const hosts: TestHost[] = [];
  const host = async (provider?: SecretProvider) => {
    const t = await startTestHost({ ...(provider ? { secrets: { provider } } : {}), audit: (e) => audits.push(e) });
    hosts.push(t);
    return t;
  };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "pb-admission-"));
    await writeFile(join(dir, "present"), VALUE);
  });
  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it("env provider: a missing required secret refuses the handshake, naming the secret and the variable", async () => {
    const t = await host(createEnvSecretProvider({ env: { PB_SECRET_PRESENT: VALUE } }));
    const err = await startError(t, [{ name: "present" }, { name: "db/password" }]);
    expect(err?.code).toBe(Code.FailedPrecondition);
    expect(err?.rawMessage).toContain('"db/password"');
    expect(err?.rawMessage).toContain("environment variable PB_SECRET_DB__PASSWORD");
    expect(err?.rawMessage).not.toContain(VALUE);
    expect(err?.rawMessage).not.toContain("present");
    // The refusal is audited, without the value.
    const refused = audits.find((a) => a.event === "handshake" && a.outcome === "failure" && a.reason?.includes("db/password"));
    expect(refused).toBeDefined();
    expect(JSON.stringify(audits)).not.toContain(VALUE);
  });

  it("optional secrets may be missing; present required ones are served after admission", async () => {
    const t = await host(createEnvSecretProvider({ env: { PB_SECRET_PRESENT: VALUE } }));
    const plugin = createPlugin(
      pluginOptions(t.url, { ...(await enrolled(t, "fine")), name: "fine", secrets: [{ name: "present" }, { name: "maybe/later", optional: true }] }),
    );
    await plugin.start();
    try {
      expect(text(await plugin.secret("present"))).toBe(VALUE);
    } finally {
      await plugin.stop();
    }
  });

  it("file provider: names the file it looked for; a chain names every place", async () => {
    const file = createFileSecretProvider({ path: dir });
    const err = await startError(await host(file), [{ name: "api/key" }]);
    expect(err?.code).toBe(Code.FailedPrecondition);
    expect(err?.rawMessage).toContain(`file ${join(dir, "api", "key")}`);

    const chain = createChainSecretProvider([createEnvSecretProvider({ env: {} }), file]);
    const chained = await startError(await host(chain), [{ name: "api/key" }]);
    expect(chained?.rawMessage).toContain(`environment variable PB_SECRET_API__KEY, then file ${join(dir, "api", "key")}`);
  });

  it("a provider outage is Unavailable (try again), not a refusal", async () => {
    const down: SecretProvider = {
      kind: "vault",
      get: async (name) => {
        throw secretUnavailable(name, "vault", "connection refused");
      },
      list: async () => [],
      getMany: async () => [],
      health: async () => ({ ok: false }),
    };
    const err = await startError(await host(down), [{ name: "api/key" }]);
    expect(err?.code).toBe(Code.Unavailable);
    expect(err?.rawMessage).toContain('"api/key"');
    // Optional secrets are not asked for at admission, so an outage does not stop such a plugin.
    expect(await startError(await host(down), [{ name: "api/key", optional: true }])).toBeUndefined();
  });

  it("a host that serves no secrets refuses a plugin that requires one", async () => {
    const err = await startError(await host(), [{ name: "db/password" }]);
    expect(err?.code).toBe(Code.FailedPrecondition);
    expect(err?.rawMessage).toMatch(/"db\/password".*serves no secrets/);
  });
});
