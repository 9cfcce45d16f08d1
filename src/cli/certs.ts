/**
 * `plugboard certs`: a development PKI in one command. Writes a CA, a host
 * certificate (server + client, SPIFFE ID spiffe://<td>/host) and one
 * certificate per plugin (spiffe://<td>/plugin/<name>). Keys are PKCS#8 PEM,
 * mode 0600. Existing files are never overwritten without --force.
 */
import { access, chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import {
  createDevCa,
  issueCertificate,
  loadCertificateAuthority,
  type CertificateAuthority,
} from "../identity/certs.js";
import { trustDomainProblem } from "../identity/spiffe-id.js";

export interface CertBundleOptions {
  outDir: string;
  trustDomain: string;
  /** Extra DNS names for the host certificate (localhost and 127.0.0.1 are always included). */
  hostDnsNames?: string[];
  pluginNames?: string[];
  /** Leaf validity. Default 30 days; the CA gets max(365, this). */
  validityDays?: number;
  /** Use ca.pem / ca-key.pem already in outDir instead of creating a CA. */
  reuseCa?: boolean;
  force?: boolean;
}

export interface WrittenFile {
  path: string;
  kind: "certificate" | "key";
}

const PLUGIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const RESERVED_NAMES = new Set(["ca", "host"]);
const KEY_MODE = 0o600;

function validate(opts: CertBundleOptions): void {
  const tdProblem = trustDomainProblem(opts.trustDomain);
  if (tdProblem !== undefined) throw new Error(`--trust-domain "${opts.trustDomain}" is invalid: ${tdProblem}`);
  for (const name of opts.pluginNames ?? []) {
    if (!PLUGIN_NAME.test(name)) {
      throw new Error(`--plugin "${name}" is invalid: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
    }
    if (RESERVED_NAMES.has(name)) throw new Error(`--plugin "${name}" would overwrite ${name}.pem; choose another name`);
  }
  if (new Set(opts.pluginNames).size !== (opts.pluginNames ?? []).length) throw new Error("--plugin names must be unique");
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Generates the bundle and writes it; returns what was written (paths only, never key material). */
export async function writeCertBundle(opts: CertBundleOptions): Promise<WrittenFile[]> {
  validate(opts);
  const validityDays = opts.validityDays ?? 30;
  const plugins = opts.pluginNames ?? [];
  const out = opts.outDir;
  await mkdir(out, { recursive: true, mode: 0o700 });

  const planned: Array<{ name: string; pem: () => Promise<{ certPem: string; keyPem: string }> }> = [];
  let ca: CertificateAuthority;
  if (opts.reuseCa) {
    ca = await loadCertificateAuthority(await readFile(join(out, "ca.pem"), "utf8"), await readFile(join(out, "ca-key.pem"), "utf8"));
  } else {
    ca = await createDevCa({ commonName: `Plugboard Dev CA (${opts.trustDomain})`, validityDays: Math.max(365, validityDays) });
    planned.push({ name: "ca", pem: async () => ca });
  }
  planned.push({
    name: "host",
    pem: () =>
      issueCertificate(ca, {
        commonName: "plugboard-host",
        spiffeId: `spiffe://${opts.trustDomain}/host`,
        dnsNames: [...new Set(["localhost", ...(opts.hostDnsNames ?? [])])],
        ipAddresses: ["127.0.0.1"],
        usage: "both",
        validityDays,
      }),
  });
  for (const name of plugins) {
    // Plugins both call the host and serve their own implementation, hence "both".
    planned.push({
      name,
      pem: () =>
        issueCertificate(ca, {
          commonName: name,
          spiffeId: `spiffe://${opts.trustDomain}/plugin/${name}`,
          dnsNames: ["localhost"],
          ipAddresses: ["127.0.0.1"],
          usage: "both",
          validityDays,
        }),
    });
  }

  // Refuse before writing anything, so a refusal never leaves a half-replaced set.
  if (!opts.force) {
    for (const { name } of planned) {
      for (const file of [`${name}.pem`, `${name}-key.pem`]) {
        if (await exists(join(out, file))) throw new Error(`${join(out, file)} already exists (use --force to overwrite)`);
      }
    }
  }

  const written: WrittenFile[] = [];
  for (const { name, pem } of planned) {
    const { certPem, keyPem } = await pem();
    const certPath = join(out, `${name}.pem`);
    const keyPath = join(out, `${name}-key.pem`);
    await writeFile(certPath, certPem, { mode: 0o644 });
    await writeFile(keyPath, keyPem, { mode: KEY_MODE });
    await chmod(keyPath, KEY_MODE); // mode applies only on creation; --force may rewrite an existing file
    written.push({ path: certPath, kind: "certificate" }, { path: keyPath, kind: "key" });
  }
  return written;
}

export function registerCertsCommand(program: Command): Command {
  return program
    .command("certs")
    .description("generate a development CA, a host certificate and plugin certificates with SPIFFE IDs")
    .requiredOption("--out <dir>", "directory to write PEM files to")
    .requiredOption("--trust-domain <td>", "SPIFFE trust domain, e.g. example.org")
    .option("--host <dns...>", "extra DNS names for the host certificate (localhost is always included)")
    .option("--plugin <name...>", "plugin names to issue certificates for")
    .option("--validity-days <days>", "leaf certificate validity in days", (v) => Number.parseInt(v, 10), 30)
    .option("--reuse-ca", "issue from ca.pem/ca-key.pem already in --out instead of creating a new CA", false)
    .option("--force", "overwrite existing files", false)
    .action(async (options: { out: string; trustDomain: string; host?: string[]; plugin?: string[]; validityDays: number; reuseCa: boolean; force: boolean }) => {
      const written = await writeCertBundle({
        outDir: options.out,
        trustDomain: options.trustDomain,
        hostDnsNames: options.host ?? [],
        pluginNames: options.plugin ?? [],
        validityDays: options.validityDays,
        reuseCa: options.reuseCa,
        force: options.force,
      });
      for (const file of written) process.stdout.write(`wrote ${file.kind === "key" ? "key (0600)" : "certificate"} ${file.path}\n`);
    });
}
