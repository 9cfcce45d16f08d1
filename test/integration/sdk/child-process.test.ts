import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { RemovalReason, WatchEventType, type WatchResponse } from "../../../gen/plugboard/v1/registry_pb.js";
import { KV_TRAILER } from "../../../examples/kv-provider/kv-service.js";
import type { Plugin } from "../../../src/sdk/index.js";
import { COOKIE, startTestHost, type TestHost } from "../../helpers/host.js";
import { PROTOCOLS } from "../../helpers/transports.js";
import { exitOf, killGroup, spawnTs } from "../../helpers/processes.js";
import { bytes, eventually, kvConsumer, text, enrolled } from "./harness.js";

const ROOT = resolve(import.meta.dirname, "../../..");

/** Starts an example script as a real child process; resolves with the words of its `ready` line. */
async function startExample(script: string, hostUrl: string, env: Record<string, string> = {}) {
  const child = spawnTs(
    resolve(ROOT, script),
    [],
    { PLUGBOARD_HOST_URL: hostUrl, PLUGBOARD_COOKIE_KEY: COOKIE.key, PLUGBOARD_COOKIE_VALUE: COOKIE.value, PLUGBOARD_LOG_LEVEL: "warn", ...env },
    { cwd: ROOT },
  );
  const lines: string[] = [];
  const stderr: string[] = [];
  child.stderr!.on("data", (d: Buffer) => stderr.push(d.toString()));
  const reader = createInterface({ input: child.stdout! });
  const ready = new Promise<string[]>((resolveReady, reject) => {
    reader.on("line", (line) => {
      lines.push(line);
      if (line.startsWith("ready ")) resolveReady(line.split(" ").slice(1));
    });
    child.once("exit", (code) => reject(new Error(`${script} exited with ${code}: ${stderr.join("")}`)));
  });
  ready.catch(() => undefined); // scripts that never print `ready` are awaited by their exit
  return { child, lines, ready, stderr };
}

/** SIGTERM (tsx relays it to the script), then the whole group; resolves with the exit code. */
async function stopChild(child: ChildProcess): Promise<number | null> {
  const code = exitOf(child);
  await killGroup(child, { graceMs: 10_000 });
  return code;
}

describe("SDK: provider as a real child process", () => {
  let host: TestHost;
  let consumer: Plugin;
  let provider: Awaited<ReturnType<typeof startExample>>;
  let providerRuntime = "";

  beforeAll(async () => {
    host = await startTestHost();
    provider = await startExample("examples/kv-provider/main.ts", host.url, { PLUGBOARD_ENROLMENT_TOKEN: (await enrolled(host, "kv-provider")).enrolmentToken });
    providerRuntime = (await provider.ready)[0] ?? "";
    consumer = kvConsumer(host.url, await enrolled(host, "consumer"));
    await consumer.start();
  });
  afterAll(async () => {
    await consumer?.stop();
    if (provider) await stopChild(provider.child);
    await host?.close();
  });

  it("serves every call kind in every protocol through the host", async () => {
    for (const protocol of PROTOCOLS) {
      const kv = consumer.client(KVService, { protocol });
      let trailer = "";
      await kv.put({ key: `${protocol}/k`, value: bytes("v") });
      const got = await kv.get({ key: `${protocol}/k` }, { onTrailer: (t) => (trailer = t.get(KV_TRAILER) ?? "") });
      expect(text(got.value)).toBe("v");
      expect(got.caller).toBe(`runtime:${consumer.runtimeId}`);
      expect(trailer).toBe("kv-provider");
      const keys: string[] = [];
      for await (const e of kv.list({ prefix: `${protocol}/` })) keys.push(e.key);
      expect(keys).toEqual([`${protocol}/k`]);
    }
    const found = await consumer.discover(KVService);
    expect(found.selected?.runtimeId).toBe(providerRuntime);
  });

  it("the example consumer script runs its tour against the child provider", async () => {
    const run = await startExample("examples/consumer/main.ts", host.url, { PLUGBOARD_ENROLMENT_TOKEN: (await enrolled(host, "consumer")).enrolmentToken });
    const [code] = await once(run.child, "exit");
    expect(run.stderr.join("")).toBe("");
    expect(code).toBe(0);
    expect(run.lines).toContain("put greeting=hello");
    expect(run.lines.some((l) => /^get greeting -> hello \(found=true, provider saw caller runtime:rt_/.test(l))).toBe(true);
    expect(run.lines).toContain("putMany -> 3 entries stored");
    expect(run.lines).toContain("list item/ -> item/1=value 1, item/2=value 2, item/3=value 3");
    expect(run.lines).toContain("exchange -> echo: ping | echo: pong");
  });

  it("SIGTERM: a second provider process unregisters (watchers see REMOVED) and exits 0", async () => {
    const second = await startExample("examples/kv-provider/main.ts", host.url, { KV_PROVIDER_NAME: "kv-provider-2", PLUGBOARD_ENROLMENT_TOKEN: (await enrolled(host, "kv-provider-2")).enrolmentToken });
    const [secondRuntime] = await second.ready;
    const events: WatchResponse[] = [];
    const watching = new AbortController();
    const watcher = (async () => {
      for await (const e of consumer.watch(KVService, { signal: watching.signal })) events.push(e);
    })().catch(() => undefined);
    await eventually(() => events[0]?.registrations.some((r) => r.runtimeId === secondRuntime));
    const code = await stopChild(second.child);
    expect(code).toBe(0);
    await eventually(() => events.some((e) => e.type === WatchEventType.REMOVED));
    const removed = events.find((e) => e.type === WatchEventType.REMOVED)!;
    expect(removed.registrations.map((r) => r.runtimeId)).toEqual([secondRuntime]);
    expect(removed.removalReason).toBe(RemovalReason.UNREGISTERED);
    watching.abort();
    await watcher;
  });

  it("SIGKILL of the provider mid-stream gives the consumer a clean Unavailable, no hang", async () => {
    const kv = consumer.client(KVService);
    for (const n of [1, 2, 3, 4]) await kv.put({ key: `doomed/${n}`, value: bytes("x") });
    const received: string[] = [];
    const started = Date.now();
    const err = await (async () => {
      for await (const e of kv.list({ prefix: "doomed/", delayMs: 300 })) {
        received.push(e.key);
        if (received.length === 1) void killGroup(provider.child); // SIGKILL to the group, sent at once
      }
    })().catch((e: unknown) => ConnectError.from(e));
    expect(received).toEqual(["doomed/1"]);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.Unavailable);
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});
