import type { Client } from "@connectrpc/connect";
import type { KVService } from "../../gen/kv/v1/kv_pb.js";

const text = new TextEncoder();
const untext = new TextDecoder();

/** One call of every kind against a KV provider, described line by line. */
export async function runKvTour(kv: Client<typeof KVService>, print: (line: string) => void = console.log): Promise<void> {
  await kv.put({ key: "greeting", value: text.encode("hello") });
  print("put greeting=hello");

  const got = await kv.get({ key: "greeting" });
  print(`get greeting -> ${untext.decode(got.value)} (found=${got.found}, provider saw caller ${got.caller})`);

  const summary = await kv.putMany(
    (async function* () {
      for (const n of [1, 2, 3]) yield { key: `item/${n}`, value: text.encode(`value ${n}`) };
    })(),
  );
  print(`putMany -> ${summary.count} entries stored`);

  const listed: string[] = [];
  for await (const entry of kv.list({ prefix: "item/" })) listed.push(`${entry.key}=${untext.decode(entry.value)}`);
  print(`list item/ -> ${listed.join(", ")}`);

  const replies: string[] = [];
  for await (const reply of kv.exchange(
    (async function* () {
      for (const t of ["ping", "pong"]) yield { text: t };
    })(),
  ))
    replies.push(reply.text);
  print(`exchange -> ${replies.join(" | ")}`);
}
