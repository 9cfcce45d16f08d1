import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/cli/config-fields.js";
import { loadHostConfig, parseHostConfig } from "../../../src/cli/host-config.js";
import { makeTempDir } from "../../helpers/temp-dirs.js";

const base = { magicCookie: { key: "K", value: "V" } };

function problems(raw: unknown): string[] {
  try {
    parseHostConfig(raw, "/etc/plugboard", {}, "/etc/plugboard/host.yaml");
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message.split("\n");
  }
  throw new Error("config was accepted");
}

describe("host config schema", () => {
  it("refuses unknown keys inside secrets (a typo there used to be accepted), naming the file and the right spelling", () => {
    expect(problems({ ...base, secrets: { kind: "file", path: "s", maxBytez: 1 } })).toEqual([
      "/etc/plugboard/host.yaml: config secrets.maxBytez: unknown setting (known: kind, path, maxBytes, cache, watch)",
    ]);
    expect(problems({ ...base, secrets: { kind: "chain", providers: [{ kind: "env", prefx: "X_" }] } })[0]).toContain("config secrets.providers[0].prefx: unknown setting");
    expect(problems({ ...base, secrets: { kind: "vaul" } })[0]).toContain("config secrets.kind: must be env, file, vault, aws or chain");
  });

  it("reports every problem at once, each with its key path and what was expected", () => {
    expect(problems({ ...base, listen: { port: "80" }, plugins: [{ name: "kv" }], healthProbe: { intervalMs: 1 } })).toEqual([
      "/etc/plugboard/host.yaml: config listen.port: must be a number",
      "/etc/plugboard/host.yaml: config healthProbe.intervalMs: must be a number ≥ 10",
      "/etc/plugboard/host.yaml: config plugins[0].command: must be a non-empty string (it is missing)",
    ]);
  });

  it("resolves relative paths against the config file's folder (tls, rbac, secrets files, plugin commands)", () => {
    const c = parseHostConfig(
      { ...base, rbac: "rbac.yaml", secrets: { kind: "file", path: "secrets" }, plugins: [{ name: "kv", command: "./bin/kv" }, { name: "n", command: "node" }] },
      "/etc/plugboard",
    );
    expect(c.rbacFile).toBe("/etc/plugboard/rbac.yaml");
    expect(c.secrets).toMatchObject({ path: "/etc/plugboard/secrets" });
    expect(c.plugins.map((p) => p.command)).toEqual(["/etc/plugboard/bin/kv", "node"]);
  });

  it("file problems name the file and the key: missing, a directory, not PEM", () => {
    const dir = makeTempDir("pb-config-");
    mkdirSync(join(dir, "certs"));
    writeFileSync(join(dir, "cert.pem"), "not a certificate\n");
    const load = (config: object) => {
      writeFileSync(join(dir, "host.yaml"), JSON.stringify({ ...base, ...config }));
      try {
        loadHostConfig(join(dir, "host.yaml"));
      } catch (error) {
        return (error as Error).message;
      }
      return "accepted";
    };
    expect(load({ rbac: "missing.yaml" })).toBe(`${join(dir, "host.yaml")}: config rbac: file not found (${join(dir, "missing.yaml")})`);
    expect(load({ tls: { cert: "certs", key: "certs" } })).toContain(`config tls.cert: is a directory, expected a file (${join(dir, "certs")})`);
    expect(load({ tls: { cert: "cert.pem", key: "cert.pem" } })).toContain(`config tls.cert: expected a PEM certificate`);
    expect(() => loadHostConfig(join(dir, "nope.yaml"))).toThrow(`${join(dir, "nope.yaml")}: config (file): file not found`);
  });
});

describe("TLS files that do not fit together", () => {
  it("a key that does not match its certificate names the files", async () => {
    const { writeCertBundle } = await import("../../../src/cli/certs.js");
    const { startHostFromConfig } = await import("../../../src/cli/host-command.js");
    const { silentLogger } = await import("../../../src/log/logger.js");
    const dir = makeTempDir("pb-tls-");
    await writeCertBundle({ outDir: dir, trustDomain: "test.local", pluginNames: ["a"] });
    const { readdirSync } = await import("node:fs");
    const files = readdirSync(dir);
    const cert = files.find((f) => /host.*\.(pem|crt)$/.test(f) && !/key/.test(f))!;
    const otherKey = files.find((f) => /^a.*key/.test(f) || /plugin.*a.*key/.test(f))!;
    writeFileSync(join(dir, "host.yaml"), JSON.stringify({ ...base, listen: { port: 0 }, tls: { cert, key: otherKey } }));
    await expect(startHostFromConfig(join(dir, "host.yaml"), silentLogger())).rejects.toThrow(
      new RegExp(`host\\.yaml: config tls: .*\\(cert ${join(dir, cert)}, key ${join(dir, otherKey)}\\)`),
    );
  });
});
