import { spawn, spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, expect, it } from "vitest";
import { startTestHost, type TestHost } from "../../helpers/host.js";

const REPO = resolve(".");

/** The README's fenced blocks whose first line names a file (`// main.ts`, `# buf.yaml`). */
async function readmeFiles(): Promise<Map<string, string>> {
  const readme = await readFile("README.md", "utf8");
  const files = new Map<string, string>();
  for (const [, body] of readme.matchAll(/```[a-z]*\n([\s\S]*?)```/g)) {
    const named = /^(?:\/\/|#) ([\w./-]+\.(?:proto|yaml|ts))\n/.exec(body!);
    if (named) files.set(named[1]!, body!);
  }
  return files;
}

let dir: string | undefined;
let host: TestHost | undefined;
afterAll(async () => {
  await host?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it("the README plugin quick start works as written: buf generate, then the plugin registers with a host", async () => {
  const files = await readmeFiles();
  expect([...files.keys()].sort()).toEqual(["buf.gen.yaml", "buf.yaml", "main.ts", "proto/kv/v1/kv.proto"]);
  dir = await mkdtemp(join(tmpdir(), "pb-readme-"));
  for (const [name, body] of files) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), body);
  }
  // What `npm install` would give the project: the same dependencies, and "plugboard/sdk" (the source, via tsconfig paths).
  await symlink(join(REPO, "node_modules"), join(dir, "node_modules"));
  await writeFile(
    join(dir, "tsconfig.json"),
    JSON.stringify({ compilerOptions: { module: "NodeNext", paths: { "plugboard/sdk": [join(REPO, "src/sdk/index.ts")] } } }),
  );
  await writeFile(join(dir, "package.json"), JSON.stringify({ type: "module" }));

  const generate = spawnSync(join(REPO, "node_modules/.bin/buf"), ["generate"], {
    cwd: dir,
    env: { ...process.env, PATH: `${join(REPO, "node_modules/.bin")}:${process.env["PATH"]}` },
    encoding: "utf8",
  });
  expect(generate.stderr).toBe("");
  expect(generate.status).toBe(0);
  expect(await readFile(join(dir, "gen/kv/v1/kv_pb.ts"), "utf8")).toContain("export const KVService");

  host = await startTestHost({ magicCookie: { key: "MYAPP_PLUGIN", value: "5b6f0c6e-my-app" } });
  const plugin = spawn(process.execPath, ["--import", "tsx", "main.ts"], {
    cwd: dir,
    // As the README says: a plugin started by hand proves its name with an enrolment token.
    env: { ...process.env, PLUGBOARD_HOST_URL: host.url, PLUGBOARD_ENROLMENT_TOKEN: await host.enrol("kv") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  plugin.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => plugin.once("exit", (code) => r(code)));
  try {
    const registered = await new Promise<boolean>((resolvePromise) => {
      const unsubscribe = host!.host.store.subscribe((event) => {
        if (event.type === "added" && event.registration.serviceType === "kv.v1.KVService") {
          unsubscribe();
          resolvePromise(true);
        }
      });
      void exited.then(() => resolvePromise(false));
    });
    expect(registered, stderr).toBe(true);
  } finally {
    // (Its signal handlers are installed just after registering: the code may be 0 or a SIGTERM death.)
    plugin.kill("SIGTERM");
    await exited;
  }
});
