import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { HandshakeService } from "../../../gen/plugboard/v1/handshake_pb.js";
import { writeCertBundle } from "../../../src/cli/certs.js";
import { createTransports } from "../../helpers/transports.js";
import { handshakeRequest, COOKIE } from "../../helpers/host.js";
import { exitOf, killGroup, run, spawnTs, waitForLine } from "../../helpers/processes.js";
import { makeTempDir } from "../../helpers/temp-dirs.js";
import type { ChildProcess } from "node:child_process";

const CLI = "src/cli/main.ts";
let child: ChildProcess | undefined;
let output = "";
afterEach(async () => {
  // The whole group: killing only the tsx wrapper would leave the host running with ppid 1.
  if (child) await killGroup(child);
  child = undefined;
});

async function startHost(config: object): Promise<string> {
  const dir = makeTempDir("pb-cli-");
  const file = join(dir, "host.yaml");
  await writeFile(file, JSON.stringify(config));
  child = spawnTs(CLI, ["host", "--config", file]);
  output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  const line = await waitForLine(child, (l) => l.includes("plugboard host ready"));
  return JSON.parse(line).url as string;
}

describe("plugboard CLI", () => {
  it("host: serves a config file's host until SIGTERM, then exits 0", async () => {
    const url = await startHost({ listen: { port: 0 }, magicCookie: COOKIE, allowUnprovenNames: true });
    // The development opt-in is loud about itself.
    expect(output).toMatch(/allowUnprovenNames is on/);
    const transports = createTransports(url);
    const res = await createClient(HandshakeService, transports.make("connect")).handshake(handshakeRequest());
    expect(res.runtimeToken).toMatch(/^pbrt_/);
    transports.close();
    child!.kill("SIGTERM");
    expect(await exitOf(child!)).toBe(0);
  });

  it("host: launches the plugins its config lists and stops them with the host", async () => {
    const url = await startHost({
      listen: { port: 0 },
      magicCookie: { key: "PLUGBOARD_EXAMPLE", value: "example-plugins-2c1f" },
      requireLaunchSecret: true,
      plugins: [
        {
          name: "kv-provider",
          command: process.execPath,
          args: ["--import", "tsx", "examples/kv-provider/main.ts"],
          provides: ["kv.v1.KVService"],
          env: { KV_PROVIDER_NAME: "kv-provider" },
        },
      ],
    });
    const transports = createTransports(url);
    const handshake = createClient(HandshakeService, transports.make("connect"));
    // Ready means the launched plugin handshook and registered; its output is in the host's log.
    expect(output).toMatch(/"plugin":"kv-provider".*"msg":"plugin ready"/);
    // The launched plugin used its launch secret; a stranger without one is refused.
    await expect(handshake.handshake(handshakeRequest({ magicCookieKey: "PLUGBOARD_EXAMPLE", magicCookieValue: "example-plugins-2c1f" }))).rejects.toThrow(/launch secret/);
    transports.close();
    child!.kill("SIGTERM");
    expect(await exitOf(child!)).toBe(0);
  });

  it("host: a bad config names the field and exits 2", async () => {
    const dir = makeTempDir("pb-cli-");
    await writeFile(join(dir, "bad.yaml"), "magicCookie: { key: K, value: V }\nlisten: { prot: 1 }\n");
    const result = await run(CLI, ["host", "--config", join(dir, "bad.yaml")]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("config listen.prot: unknown setting");
  });

  it("status over mTLS: an admin certificate lists runtimes; a plugin certificate is refused", { timeout: 90_000 }, async () => {
    const dir = makeTempDir("pb-certs-");
    await writeCertBundle({ outDir: dir, trustDomain: "test.local", pluginNames: ["admin", "kv"] });
    await writeFile(
      join(dir, "rbac.yaml"),
      "roles:\n  admin: { allow: [admin, handshake, 'discover:*'] }\n  plugin: { allow: [handshake, 'discover:*'] }\n" +
        "bindings:\n  - { subject: 'spiffe://test.local/plugin/admin', role: admin }\n  - { subject: 'spiffe://test.local/plugin/kv', role: plugin }\n",
    );
    const url = await startHost({
      listen: { port: 0 },
      magicCookie: COOKIE,
      tls: { cert: join(dir, "host.pem"), key: join(dir, "host-key.pem"), ca: join(dir, "ca.pem"), requestClientCert: true },
      identity: { mtls: { trustDomains: ["test.local"] } },
      rbac: join(dir, "rbac.yaml"),
    });
    // A plugin handshakes over mTLS so there is something to list.
    const tls = { ca: await readFile(join(dir, "ca.pem"), "utf8"), cert: await readFile(join(dir, "kv.pem"), "utf8"), key: await readFile(join(dir, "kv-key.pem"), "utf8") };
    const transports = createTransports(url, tls);
    const admitted = await createClient(HandshakeService, transports.make("connect")).handshake(handshakeRequest({ pluginName: "kv" }));
    transports.close();

    const as = (name: string) => ["status", "--host", url, "--ca", join(dir, "ca.pem"), "--cert", join(dir, `${name}.pem`), "--key", join(dir, `${name}-key.pem`)];
    const ok = await run(CLI, as("admin"));
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`kv@1.0.0  ${admitted.runtimeId}  healthy  name proven by mtls`);
    const refused = await run(CLI, as("kv"));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/permission denied: admin/i);

    // `plugboard enrol` (admin certificate) mints a token that proves "reporter" for a plugin without a certificate.
    const enrolled = await run(CLI, ["enrol", "reporter", ...as("admin").slice(1), "--uses", "1"]);
    expect(enrolled.code).toBe(0);
    const token = enrolled.stdout.trim();
    expect(token).toMatch(/^pbet_[A-Za-z0-9_-]{43}$/);
    expect(enrolled.stderr).toMatch(/enrolment en_\S+ for reporter/);
    // A plugin certificate may not enrol anyone.
    const notAdmin = await run(CLI, ["enrol", "reporter", ...as("kv").slice(1)]);
    expect(notAdmin.code).toBe(1);
    expect(notAdmin.stderr).toMatch(/permission denied: admin/i);
  });

  it("token inspect: tells the kind and digest, never prints the token", async () => {
    const token = "pbrt_" + "Ab3".repeat(14) + "x";
    const result = await run(CLI, ["token", "inspect"], {}, token);
    expect(result.code).toBe(0);
    const facts = JSON.parse(result.stdout);
    expect(facts).toMatchObject({ kind: "runtime", wellFormed: true });
    expect(facts.digestPrefix).toMatch(/^[0-9a-f]{16}$/);
    expect(result.stdout + result.stderr).not.toContain(token.slice(5));
  });

  it("--help lists every command", async () => {
    const result = await run(CLI, ["--help"]);
    for (const command of ["host", "certs", "status", "token", "enrol"]) expect(result.stdout).toContain(command);
  });
});
