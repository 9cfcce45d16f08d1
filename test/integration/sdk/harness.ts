import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { silentLogger } from "../../../src/log/logger.js";
import { createPlugin, provide, requireService, type Plugin, type PluginOptions } from "../../../src/sdk/index.js";
import { createKvService, type KvObserver } from "../../../examples/kv-provider/kv-service.js";
import { afterAll, beforeAll } from "vitest";
import type { IssuedEnrolmentToken } from "../../../src/enrolment/index.js";
import { tokenDigest } from "../../../src/tokens/tokens.js";
import { COOKIE, startTestHost, type TestHost } from "../../helpers/host.js";

export const bytes = (s: string) => new TextEncoder().encode(s);
export const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Plugin options every test plugin shares: test cookie, silent logs, no process signal handlers. */
export function pluginOptions(hostUrl: string, extra: Partial<PluginOptions> & { name: string }): PluginOptions {
  return { hostUrl, version: "1.0.0", magicCookie: COOKIE, logger: silentLogger(), shutdownSignals: false, heartbeatMs: 0, ...extra };
}

export function kvProvider(hostUrl: string, observer: KvObserver = {}, extra: Partial<PluginOptions> = {}): Plugin {
  return createPlugin(
    pluginOptions(hostUrl, { name: "kv-provider", provides: [provide(KVService, createKvService("kv-provider", observer))], ...extra }),
  );
}

export function kvConsumer(hostUrl: string, extra: Partial<PluginOptions> = {}): Plugin {
  return createPlugin(pluginOptions(hostUrl, { name: "consumer", requires: [requireService(KVService, { versionRange: "^1.0.0" })], ...extra }));
}

const issuedBy = new WeakMap<TestHost, IssuedEnrolmentToken[]>();

/** Options that prove `name` to the test host with an enrolment token (re-handshakes included). */
export async function enrolled(t: TestHost, name: string): Promise<{ enrolmentToken: string }> {
  const issued = await t.host.issueEnrolmentToken(name, { uses: 100 });
  issuedBy.set(t, [...(issuedBy.get(t) ?? []), issued]);
  return { enrolmentToken: issued.token };
}

/** A restarted host keeps the operator's enrolments, as a shared (Redis) store would: digests only. */
export async function carryEnrolments(from: TestHost, to: TestHost): Promise<void> {
  for (const e of issuedBy.get(from) ?? [])
    await to.host.store.putEnrolment(tokenDigest(e.token), { id: e.id, pluginName: e.pluginName, expiresAt: e.expiresAt, usesLeft: e.uses });
}

export async function* messages<T>(items: T[]): AsyncIterable<T> {
  for (const item of items) yield item;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` returns truthy or the time runs out. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 5_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      if (Date.now() > end) throw e;
    }
    if (Date.now() > end) throw new Error("condition not met in time");
    await sleep(50);
  }
}

/**
 * For the enclosing describe block: a test host with a started KV provider and a consumer
 * that requires it; everything stopped after the block.
 */
export function useHostWithKvPair(observer: KvObserver = {}) {
  const pair = {} as { host: TestHost; provider: Plugin; consumer: Plugin };
  beforeAll(async () => {
    pair.host = await startTestHost();
    // Each plugin proves its name with an enrolment token, as a plugin started outside the host would.
    pair.provider = kvProvider(pair.host.url, observer, await enrolled(pair.host, "kv-provider"));
    await pair.provider.start();
    pair.consumer = kvConsumer(pair.host.url, await enrolled(pair.host, "consumer"));
    await pair.consumer.start();
  });
  afterAll(async () => {
    await pair.consumer?.stop();
    await pair.provider?.stop();
    await pair.host?.close();
  });
  return pair;
}
