import { Code, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecretsService } from "../../gen/plugboard/v1/secrets_pb.js";
import { createRbac } from "../../src/policy/rbac.js";
import { createEnvSecretProvider } from "../../src/secrets/index.js";
import { startTestHost, type TestHost } from "../helpers/host.js";
import { bearer, createTransports } from "../helpers/transports.js";
import { codeOf } from "./harness.js";

/**
 * Issue 12, hole 1: `GetSecrets` with an empty `names` list ("every declared secret") must be judged
 * name by name exactly as an explicit list is: RBAC `secret:<name>` and the host secret policy.
 * Before the fix RBAC saw no names and the service returned every declared secret.
 */
const env = { PB_SECRET_DB__PASSWORD: "db-value", PB_SECRET_ADMIN__ROOT: "root-value", PB_SECRET_POLICY__DENIED: "p", PB_SECRET_OPTIONAL_KEY: "opt-value" };

let t: TestHost;
let transports: ReturnType<typeof createTransports>;
beforeAll(async () => {
  t = await startTestHost({
    secrets: {
      provider: createEnvSecretProvider({ env }),
      policy: (_plugin, name) => name !== "policy/denied",
    },
    rbac: createRbac({
      roles: {
        plugin: { allow: ["handshake", "discover:*", "register:*", "secret:db/password", "secret:policy/denied"] },
      },
      bindings: [],
      defaultRoles: ["plugin"],
    }),
  });
  transports = createTransports(t.url);
});
afterAll(async () => {
  transports?.close();
  await t?.close();
});

const secrets = () => createClient(SecretsService, transports.make("connect"));
const names = (r: { secrets: Array<{ name: string }> }) => r.secrets.map((s) => s.name).sort();

describe("GetSecrets with an empty names list", () => {
  it("refuses the call when a required declared secret is forbidden by RBAC (as an explicit list is)", async () => {
    const rt = await t.handshake({ pluginName: "reader", secrets: [{ name: "db/password" }, { name: "admin/root" }] });
    expect(await codeOf(secrets().getSecrets({ names: ["admin/root"] }, bearer(rt.token)))).toBe(Code.PermissionDenied);
    expect(await codeOf(secrets().getSecrets({ names: [] }, bearer(rt.token)))).toBe(Code.PermissionDenied);
  });

  it("leaves out an optional declared secret RBAC forbids and returns the allowed ones", async () => {
    const rt = await t.handshake({
      pluginName: "reader",
      secrets: [{ name: "db/password" }, { name: "admin/root", optional: true }],
    });
    const all = await secrets().getSecrets({ names: [] }, bearer(rt.token));
    expect(names(all)).toEqual(["db/password"]);
    expect(JSON.stringify(all)).not.toContain("root-value");
  });

  it("still applies the host secret policy", async () => {
    const rt = await t.handshake({ pluginName: "reader", secrets: [{ name: "db/password" }, { name: "policy/denied" }] });
    expect(await codeOf(secrets().getSecrets({ names: [] }, bearer(rt.token)))).toBe(Code.PermissionDenied);
  });

  it("WatchSecrets is judged the same way, for an empty and an explicit list (streams carry no names to RBAC)", async () => {
    const rt = await t.handshake({ pluginName: "reader", secrets: [{ name: "db/password" }, { name: "admin/root" }] });
    const firstOf = (names: string[]) =>
      codeOf(
        (async () => {
          for await (const change of secrets().watchSecrets({ names }, { ...bearer(rt.token), timeoutMs: 10_000 })) return change;
        })(),
      );
    expect(await firstOf(["admin/root"])).toBe(Code.PermissionDenied);
    expect(await firstOf([])).toBe(Code.PermissionDenied);

    const optional = await t.handshake({ pluginName: "reader", secrets: [{ name: "db/password" }, { name: "admin/root", optional: true }] });
    for await (const change of secrets().watchSecrets({ names: [] }, { ...bearer(optional.token), timeoutMs: 10_000 })) {
      expect(names(change)).toEqual(["db/password"]);
      break;
    }
  });

  it("returns every declared secret when all are allowed", async () => {
    const rt = await t.handshake({ pluginName: "reader", secrets: [{ name: "db/password" }] });
    expect(names(await secrets().getSecrets({ names: [] }, bearer(rt.token)))).toEqual(["db/password"]);
  });
});
