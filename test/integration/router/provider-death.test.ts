/**
 * Issue 20, case 5: a provider process killed -9 in the middle of a call. Whatever the protocol and
 * call kind, the caller sees exactly one clean Unavailable at a message boundary — or the complete
 * answer, when the provider had written all of it (then a second end of stream would break the client).
 */
import { resolve } from "node:path";
import type { ChildProcess } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { Code, type Client } from "@connectrpc/connect";
import type { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { killGroup, spawnGroup, waitForLine } from "../../helpers/processes.js";
import { PROTOCOLS, clientFactory, expectConnectError, messages, startFront, stubRouterOptions, type Protocol } from "./harness.js";

const FIXTURE = resolve(import.meta.dirname, "../../fixtures/dying-provider/server.mjs");

type Kind = "unary" | "server-stream" | "client-stream" | "bidi";
const KINDS: Kind[] = ["unary", "server-stream", "client-stream", "bidi"];

/** One call of the kind; resolves with the first response field seen ("k", or "3" for PutMany's count). */
async function call(kv: Client<typeof KVService>, kind: Kind): Promise<string[]> {
  switch (kind) {
    case "unary":
      return [(await kv.get({ key: "a" })).key];
    case "server-stream": {
      const got: string[] = [];
      for await (const m of kv.list({ prefix: "a" })) got.push(m.key);
      return got;
    }
    case "client-stream":
      return [String((await kv.putMany(messages([{ key: "a" }, { key: "b" }]))).count)];
    case "bidi": {
      const got: string[] = [];
      for await (const m of kv.exchange(messages([{ text: "a" }]))) got.push(m.text);
      return got;
    }
  }
}

/** What a complete answer from the fixture reads as. */
const ANSWER: Record<Kind, string[]> = { unary: ["k"], "server-stream": ["k"], "client-stream": ["3"], bidi: ["k"] };

describe("a provider killed -9 mid-call", () => {
  let child: ChildProcess | undefined;
  const clients = clientFactory();
  afterEach(async () => {
    clients.close();
    if (child) await killGroup(child);
    child = undefined;
  });

  async function dieDuring(protocol: Protocol, kind: Kind, at: "headers" | "complete") {
    const proc = spawnGroup(process.execPath, [FIXTURE]);
    child = proc;
    const port = (await waitForLine(proc, (l) => l.startsWith("listening "))).split(" ")[1];
    const front = await startFront(stubRouterOptions(() => `http://127.0.0.1:${port}`));
    try {
      const kv = clients.client(protocol, front.url, "pbrt_alice", { "x-die-at": at });
      const staged = waitForLine(proc, (l) => l === `stage ${at}`);
      const outcome = call(kv, kind).then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
      await staged;
      await killGroup(proc);
      return await outcome;
    } finally {
      clients.close();
      await front.close();
    }
  }

  describe.each(PROTOCOLS)("%s", (protocol) => {
    it.each(KINDS)("%s: killed after sending headers → one clean Unavailable", async (kind) => {
      const outcome = await dieDuring(protocol, kind, "headers");
      expect("error" in outcome, "the call must fail").toBe(true);
      const err = await expectConnectError(Promise.reject((outcome as { error: unknown }).error));
      expect(err.code, err.message).toBe(Code.Unavailable);
    });

    it.each(KINDS)("%s: killed after its whole answer, before END_STREAM → the answer (gRPC: Unavailable, no trailers came)", async (kind) => {
      const outcome = await dieDuring(protocol, kind, "complete");
      if (protocol === "grpc") {
        expect("error" in outcome, "a gRPC answer without trailers is not complete").toBe(true);
        const err = await expectConnectError(Promise.reject((outcome as { error: unknown }).error));
        expect(err.code, err.message).toBe(Code.Unavailable);
      } else {
        if ("error" in outcome) throw outcome.error;
        expect(outcome.value).toEqual(ANSWER[kind]);
      }
    });
  });
});
