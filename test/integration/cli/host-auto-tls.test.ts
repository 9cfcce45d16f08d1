import type { ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import http2 from "node:http2";
import { afterEach, expect, it } from "vitest";
import { exitOf, killGroup, spawnTs, waitForLine } from "../../helpers/processes.js";
import { makeTempDir } from "../../helpers/temp-dirs.js";

let child: ChildProcess | undefined;
afterEach(async () => {
  // The whole group: the tsx wrapper and the host under it.
  if (child) await killGroup(child);
  child = undefined;
});

it("plugboard host with tls: auto serves https, launches a plugin over AutoMTLS, refuses clients without its certificate", async () => {
  const dir = makeTempDir("pb-cli-auto-");
  const file = join(dir, "host.yaml");
  await writeFile(
    file,
    JSON.stringify({
      listen: { port: 0 },
      tls: "auto",
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
    }),
  );
  child = spawnTs("src/cli/main.ts", ["host", "--config", file]);
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  const url = JSON.parse(await waitForLine(child, (l) => l.includes("plugboard host ready"))).url as string;
  expect(url).toMatch(/^https:\/\/127\.0\.0\.1:/);
  // Ready: the plugin handshook over mTLS with its launched certificate and registered.
  expect(output).toMatch(/"plugin":"kv-provider".*"msg":"plugin ready"/);
  expect(output).toContain('"trustDomain":"plugboard.local"');

  // Even a client that skips server verification is refused by TLS without a client certificate from the
  // host's CA; otherwise grpc.health (public on every host) would answer 200.
  const outcome = await new Promise<string>((resolve) => {
    const session = http2.connect(url, { rejectUnauthorized: false });
    const finish = (what: string) => {
      session.destroy();
      resolve(what);
    };
    session.once("error", () => finish("refused"));
    session.once("close", () => finish("refused"));
    const req = session.request({ ":path": "/grpc.health.v1.Health/Check", ":method": "POST", "content-type": "application/grpc" });
    req.once("error", () => finish("refused"));
    req.once("response", (h) => finish(`answered ${h[":status"]}`));
    req.end();
  });
  expect(outcome).toBe("refused");

  child.kill("SIGTERM"); // tsx relays it to the host, which stops its plugins and exits 0
  expect(await exitOf(child)).toBe(0);
});
