#!/usr/bin/env node
/**
 * Mutation testing, one security-critical folder at a time (docs/testing.md):
 *   node scripts/mutate.mjs            every folder, smallest first
 *   node scripts/mutate.mjs tokens     one folder (src/tokens)
 * Each folder keeps its own incremental file (reports/mutation/<folder>.incremental.json, committed),
 * so a re-run tests only the mutants whose code or covering tests changed since the last run.
 * Extra arguments after `--` go to Stryker (e.g. `-- --concurrency 2`).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
/**
 * The tests run against each folder's mutants: the unit, security and integration tests of the folder's
 * concern (a small set keeps the initial run and each mutant's run short on a shared machine). Per-test
 * coverage then runs, for each mutant, only those of them that executed it. Suites whose checks run in
 * child processes cannot kill a mutant (it lives only in the test process) and are left out.
 * Smallest and most security-critical folders first.
 */
const sec = (...names) => names.map((n) => `test/security/${n}.test.ts`);
const host = (...names) => names.map((n) => `test/integration/host/${n}.test.ts`);
export const FOLDER_TESTS = {
  tokens: [
    "test/unit/tokens/*.test.ts",
    "test/unit/protocol/known-answers.test.ts",
    ...sec("constant-time-compare", "credentials-at-rest-and-clock", "look-alikes", "refresh-atomic", "credentials"),
    ...host("handshake"),
  ],
  validation: [
    "test/unit/validation/*.test.ts",
    "test/unit/admission/*.test.ts",
    ...sec("look-alikes", "properties", "ssrf", "limits", "secret-name-mapping", "secrets-empty-names"),
    ...host("handshake"),
  ],
  protocol: [
    "test/unit/protocol/*.test.ts",
    "test/unit/router/caller-*.test.ts",
    ...sec("constant-time-compare", "spoofed-headers", "plugin-server-phases", "header-list"),
    ...host("handshake"),
    "test/integration/health/vocabulary.test.ts",
  ],
  broker: [...host("broker"), ...sec("broker-rules", "credentials", "identity")],
  policy: [
    "test/unit/policy/*.test.ts",
    ...sec("identity", "identity-holes", "secrets-empty-names"),
    ...host("auth-required", "host-client"),
    "test/integration/identity/host-identity.test.ts",
    "test/integration/ops/dashboard-access.test.ts",
  ],
  // Not sec("admission"): its 3000-handshake flood would run for nearly every mutant; handshake-rules checks the service's own rules.
  handshake: [
    "test/unit/handshake/*.test.ts",
    ...host("handshake"),
    ...sec("handshake-rules", "credentials", "constant-time-compare"),
    "test/unit/identity/name-proof.test.ts",
  ],
  registry: [
    "test/unit/registry/*.test.ts",
    ...host("registry", "watch-snapshot", "slow-watcher", "discover-paging", "watch-fanout"),
    ...sec("registry-rules", "credentials"),
  ],
  // The unit tests check the folder's branches; of its in-process suites only the fast ones are kept: the security
  // suites and auto-mtls start hosts or plugin processes (8–30 s a mutant) and check through them what the unit
  // tests check directly (docs/testing.md, identity).
  identity: [
    "test/unit/identity/*.test.ts",
    ...["jwt", "mtls", "host-identity", "auto-mtls-renew", "certs-cli"].map((n) => `test/integration/identity/${n}.test.ts`),
  ],
  secrets: ["test/unit/secrets/*.test.ts", "test/integration/secrets/*.test.ts", ...host("secrets", "watch-secrets"), ...sec("secret-name-mapping", "secrets-empty-names")],
  // The unit tests check the folder's branches directly. forward.ts, router.ts and upstream-pool.ts are not mutated
  // yet (rewritten this stop, with forwarded-call.ts and routed-call.ts), so of the integration suites only those of the protocol bridge (bridge-call.ts has no unit
  // tests) are kept: the others drive forward.ts and would only slow each mutant down (docs/testing.md, router).
  router: [
    "test/unit/router/*.test.ts",
    ...["bridge", "bridge-edges", "bridge-call"].map((n) => `test/integration/router/${n}.test.ts`),
    "test/integration/host/bridge.test.ts",
  ],
  // The router's forwarding core (FOLDER_MUTATE below): the router's in-process integration suites and the security
  // suites of its limits. Left out: the suites whose provider is a child process (provider-death*, dead-provider-ejection,
  // safe-retry-killed-provider: seconds each) and slowloris (the host's idle timeouts, not the forwarding core).
  "router-forward": [
    "test/unit/router/*.test.ts",
    ...["call-end", "caps", "failures", "passthrough", "refusals", "safe-retry", "shared-listeners", "tls", "new-session-burst", "retry-after-caller-left", "safe-retry-pooled", "bridge", "in-flight-release", "call-end-info", "sync-steps", "raw-provider-answers", "pending-cap", "forward-step", "caller-left-before-forward", "bridge-json-schema", "forward-call-direct", "unary-response-limit"].map(
      (n) => `test/integration/router/${n}.test.ts`,
    ),
    ...sec("stream-limits", "stream-credential-end", "response-limits", "oversize-request-release", "header-list", "rate-limit-audit", "spoofed-headers", "limits", "floods"),
  ],
  // The unit tests check the session, grants, secrets watch, renewal and the plugin server against scripted
  // loopback servers; of the integration suites (each mutant of code every plugin runs, such as its options,
  // would run all of them) only fast end-to-end ones are kept: routing, interceptors, tls, the host connection's
  // rotation, plugin-api (what createPlugin sends the host), plugin-stop and plugin-rehandshake. Left out: token-lifecycle (28 s of
  // traffic), limits-and-capabilities (a host restart, 14 s), start-failure and child-process (child
  // processes), and the other short suites, which check plugin.ts rather than these files.
  sdk: ["test/unit/sdk/*.test.ts", ...sec("plugin-server-phases"), ...["routing", "interceptors", "tls", "host-connection-rotate", "plugin-api", "plugin-stop", "plugin-rehandshake"].map((n) => `test/integration/sdk/${n}.test.ts`)],
};
export const FOLDERS = Object.keys(FOLDER_TESTS);

/**
 * The files a key mutates, when not its folder's (`src/<key>/**` with `.ts` files). The router's forwarding core has its own
 * key and test set (the router integration suites, which would slow every other router mutant down); the
 * `router` key leaves those files out, so no mutant is counted twice.
 */
const ROUTER_FORWARD_CORE = ["forwarded-call", "routed-call", "router", "forward-request", "end-code", "forward", "upstream-pool"].map(
  (n) => `src/router/${n}.ts`,
);
export const FOLDER_MUTATE = {
  router: ["src/router/**/*.ts", ...ROUTER_FORWARD_CORE.map((f) => `!${f}`)],
  "router-forward": ROUTER_FORWARD_CORE,
};
/** The mutate globs of a key (Stryker's `mutate` option). */
export const mutateGlobs = (key) => FOLDER_MUTATE[key] ?? [`src/${key}/**/*.ts`];

const dashDash = process.argv.indexOf("--");
const args = dashDash === -1 ? process.argv.slice(2) : process.argv.slice(2, dashDash);
const strykerArgs = dashDash === -1 ? [] : process.argv.slice(dashDash + 1);
const folders = args.length > 0 ? args : FOLDERS;

for (const folder of folders) {
  if (!FOLDERS.includes(folder) || (FOLDER_MUTATE[folder] === undefined && !existsSync(join(ROOT, "src", folder)))) {
    console.error(`unknown folder "${folder}"; one of: ${FOLDERS.join(", ")}`);
    process.exit(2);
  }
}

let failed = false;
for (const folder of folders) {
  console.log(`\n=== mutating ${mutateGlobs(folder).join(" ")} ===`);
  const run = spawnSync(
    process.execPath,
    [
      join(ROOT, "node_modules/@stryker-mutator/core/bin/stryker.js"),
      "run",
      "--testFiles", FOLDER_TESTS[folder].join(","),
      ...strykerArgs,
    ],
    { cwd: ROOT, stdio: "inherit", env: { ...process.env, MUTATE_FOLDER: folder, MUTATE_GLOBS: mutateGlobs(folder).join(",") } },
  );
  if (run.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
