import { cpSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runCommand } from "../../helpers/processes.js";
import { makeTempDir } from "../../helpers/temp-dirs.js";

/**
 * The package as users get it: `npm pack` (once), installed from the tarball into a copy of
 * test/fixtures/consumer-strict, compiled with `tsc --strict` and no skipLibCheck under
 * moduleResolution node16 and bundler, once with the lowest and once with the newest versions
 * of the peer ranges package.json declares. Needs the npm registry.
 */
const ROOT = resolve(import.meta.dirname, "../../..");
const FIXTURE = join(ROOT, "test/fixtures/consumer-strict");
const TSC = join(ROOT, "node_modules/typescript/bin/tsc");
const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
  devDependencies: Record<string, string>;
};

/** `name@x.y.z` for the lower bound of each required peer's `^x.y.z` range. */
async function lowestPeers(): Promise<string[]> {
  return Object.entries(manifest.peerDependencies)
    .filter(([name]) => !manifest.peerDependenciesMeta[name]?.optional)
    .map(([name, range]) => {
      const lowest = /^\^(\d+\.\d+\.\d+)$/.exec(range)?.[1];
      if (!lowest) throw new Error(`peer range of ${name} is not ^x.y.z: ${range}`);
      return `${name}@${lowest}`;
    });
}

const MINUTES = 60_000;
const npm = (args: string[], cwd: string) => runCommand("npm", args, { cwd, timeoutMs: 5 * MINUTES });

/** `name@x.y.z` for the newest published version in each required peer's range (asked of the registry). */
async function newestPeers(): Promise<string[]> {
  const required = Object.entries(manifest.peerDependencies).filter(([name]) => !manifest.peerDependenciesMeta[name]?.optional);
  return Promise.all(
    required.map(async ([name, range]) => {
      const view = await npm(["view", `${name}@${range}`, "version", "--json"], ROOT);
      expect(view.code, view.stderr).toBe(0);
      const versions = JSON.parse(view.stdout) as string | string[];
      return `${name}@${Array.isArray(versions) ? versions.at(-1) : versions}`;
    }),
  );
}

describe("a strict TypeScript app depending on the packed tarball", () => {
  let work = "";
  let tarball = "";

  beforeAll(async () => {
    work = makeTempDir("pb-consumer-");
    // dist/ is already built by the global setup; --ignore-scripts keeps prepack from rebuilding it
    // under the feet of the test files running in parallel.
    const packed = await npm(["pack", "--ignore-scripts", "--json", "--pack-destination", work], ROOT);
    expect(packed.code, packed.stderr).toBe(0);
    tarball = join(work, (JSON.parse(packed.stdout) as { filename: string }[])[0]!.filename);
  }, 5 * MINUTES);

  it.each([
    ["lowest", lowestPeers],
    ["newest", newestPeers],
  ])("compiles under node16 and bundler with the %s peer versions", async (label, peers) => {
    const pins = await peers();
    const app = join(work, label);
    cpSync(FIXTURE, app, { recursive: true });
    const install = await npm(["install", "--no-audit", "--no-fund", tarball, `@types/node@${manifest.devDependencies["@types/node"]}`, ...pins], app);
    expect(install.code, install.stderr).toBe(0);
    // Installing from a tarball runs no script of ours, so npm has nothing to warn about.
    expect(install.stderr).not.toMatch(/install-scripts|plugboard/);
    console.log(`consumer with the ${label} peers: ${pins.join(" ")}`);

    for (const config of ["tsconfig.node16.json", "tsconfig.bundler.json"]) {
      const tsc = await runCommand(process.execPath, [TSC, "-p", join(app, config)], { cwd: app, timeoutMs: 5 * MINUTES });
      expect({ config, output: tsc.stdout + tsc.stderr }).toEqual({ config, output: "" });
      expect(tsc.code).toBe(0);
    }

    // The bin resolves in an installed copy.
    const help = await runCommand(join(app, "node_modules/.bin/plugboard"), ["--help"], { cwd: app });
    expect(help.stdout).toContain("host");
    expect(help.code).toBe(0);
  }, 10 * MINUTES);
});
