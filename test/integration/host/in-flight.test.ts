import { expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { eventually, useHostWithKvPair } from "../sdk/harness.js";

const pair = useHostWithKvPair();

it("counts routed calls in flight per provider runtime (what drains wait for)", async () => {
  const { host, provider, consumer } = pair;
  const kv = consumer.client(KVService);
  await kv.put({ key: "k/1", value: new Uint8Array([1]) });
  expect(host.host.inFlight(provider.runtimeId)).toBe(0);
  // Two slow streams are in flight at once; the count follows them down to zero.
  const slow = () => (async () => {
    let n = 0;
    for await (const _ of kv.list({ prefix: "k/", delayMs: 400 })) n++;
    return n;
  })();
  const calls = [slow(), slow()];
  await eventually(() => expect(host.host.inFlight(provider.runtimeId)).toBe(2));
  expect(await Promise.all(calls)).toEqual([1, 1]);
  await eventually(() => expect(host.host.inFlight(provider.runtimeId)).toBe(0));
});
