import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import type { Plugin } from "../../../src/sdk/index.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { kvConsumer, kvProvider, enrolled } from "./harness.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  closers.length = 0;
});

it("no provider registered is Unavailable, so a retrying client rides over a provider restart", async () => {
  const t: TestHost = await startTestHost();
  closers.push(() => t.close());
  const first = kvProvider(t.url, {}, await enrolled(t, "kv-provider"));
  await first.start();
  const consumer = kvConsumer(t.url, await enrolled(t, "consumer"));
  await consumer.start();
  closers.push(() => consumer.stop());
  await first.stop(); // the provider is between two runs: nothing registered

  const bare = consumer.client(KVService);
  const refused = ConnectError.from(await bare.get({ key: "k" }).catch((e: unknown) => e));
  expect(refused.code).toBe(Code.Unavailable);
  expect(refused.rawMessage).toContain("no provider registered for kv.v1.KVService");

  // The retry's back-off is where the provider comes back (no timing involved).
  let second: Plugin | undefined;
  const retrying = consumer.client(KVService, {
    retry: {
      maxAttempts: 3,
      sleep: async () => {
        if (second) return;
        second = kvProvider(t.url, {}, await enrolled(t, "kv-provider"));
        closers.push(() => second!.stop());
        await second.start();
      },
    },
  });
  const res = await retrying.get({ key: "k" });
  expect(res.found).toBe(false);
  expect(second).toBeDefined();
});
