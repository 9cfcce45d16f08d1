import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Command } from "commander";
import { registerCertsCommand } from "../../../src/cli/certs.js";
import { createMtlsAuthenticator } from "../../../src/identity/mtls.js";
import { requestWithClientCert, startMtlsServer } from "./tls-harness.js";

function program(): Command {
  const p = new Command().name("plugboard").exitOverride();
  p.configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerCertsCommand(p);
  return p;
}

async function run(args: string[]): Promise<void> {
  const write = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  try {
    await program().parseAsync(["node", "plugboard", "certs", ...args]);
  } finally {
    write.mockRestore();
  }
}

describe("plugboard certs", () => {
  let dir: string;
  const read = (f: string) => readFile(join(dir, f), "utf8");

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "plugboard-certs-"));
    await run(["--out", dir, "--trust-domain", "example.org", "--host", "plugboard.internal", "--plugin", "kv", "logger"]);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes the CA, host and plugin files with private keys at mode 0600", async () => {
    for (const name of ["ca", "host", "kv", "logger"]) {
      expect((await stat(join(dir, `${name}.pem`))).isFile()).toBe(true);
      expect((await stat(join(dir, `${name}-key.pem`))).mode & 0o777).toBe(0o600);
      expect(await read(`${name}-key.pem`)).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    }
    const host = new X509Certificate(await read("host.pem"));
    expect(host.subjectAltName).toContain("URI:spiffe://example.org/host");
    expect(host.subjectAltName).toContain("DNS:localhost");
    expect(host.subjectAltName).toContain("DNS:plugboard.internal");
    expect(host.subjectAltName).toContain("IP Address:127.0.0.1");
    expect(host.checkIssued(new X509Certificate(await read("ca.pem")))).toBe(true);
  });

  it("produces files a real mTLS server and client accept, naming the plugin by SPIFFE ID", async () => {
    const server = await startMtlsServer({
      ca: await read("ca.pem"),
      cert: await read("host.pem"),
      key: await read("host-key.pem"),
      authenticate: createMtlsAuthenticator({ trustDomains: ["example.org"] }),
    });
    try {
      const asPlugin = await requestWithClientCert(server.url, { ca: await read("ca.pem"), cert: await read("kv.pem"), key: await read("kv-key.pem") });
      expect(asPlugin.body.subject).toBe("spiffe://example.org/plugin/kv");
      const asHost = await requestWithClientCert(server.url, { ca: await read("ca.pem"), cert: await read("host.pem"), key: await read("host-key.pem") });
      expect(asHost.body.subject).toBe("spiffe://example.org/host");
    } finally {
      await server.close();
    }
  });

  it("refuses to overwrite without --force, and can add plugins from the existing CA", async () => {
    const caBefore = await read("ca.pem");
    await expect(run(["--out", dir, "--trust-domain", "example.org"])).rejects.toThrow(/already exists/);
    await run(["--out", dir, "--trust-domain", "example.org", "--reuse-ca", "--force", "--plugin", "extra"]);
    expect(await read("ca.pem")).toBe(caBefore);
    const extra = new X509Certificate(await read("extra.pem"));
    expect(extra.checkIssued(new X509Certificate(caBefore))).toBe(true);
    expect(extra.subjectAltName).toContain("URI:spiffe://example.org/plugin/extra");
  });

  it("validates the trust domain and plugin names", async () => {
    await expect(run(["--out", dir, "--trust-domain", "Example.ORG"])).rejects.toThrow(/trust-domain/);
    await expect(run(["--out", dir, "--trust-domain", "example.org", "--plugin", "../evil"])).rejects.toThrow(/--plugin/);
    await expect(run(["--out", dir, "--trust-domain", "example.org", "--plugin", "host"])).rejects.toThrow(/overwrite/);
    await expect(run(["--trust-domain", "example.org"])).rejects.toThrow(/--out/);
  });
});
