/**
 * The router's forward step, as the host's hooks see it: `onCallStart` names the call and its provider;
 * a failure of the router's own callbacks (not a ConnectError) is logged with the call, and a refusal
 * is not.
 */
import { describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "../../../src/log/index.js";
import { expectConnectError, startFront, stubRouterOptions, useProvider } from "./harness.js";

describe("the forward step", () => {
  const env = useProvider();
  const clients = env.clients;

  it("onCallStart is told the service, method and provider runtime", async () => {
    const starts: unknown[] = [];
    const front = await startFront(stubRouterOptions(() => env.provider.url, { onCallStart: (i) => starts.push(i) }));
    try {
      await clients.client("grpc", front.url).get({ key: "a" });
      expect(starts).toEqual([{ service: "kv.v1.KVService", method: "Get", runtimeId: "kv-1" }]);
    } finally {
      clients.close();
      await front.close();
    }
  });

  it("a callback's own failure is logged with the call (Internal for the caller); a ConnectError refusal is not logged", async () => {
    const errors: { obj: Record<string, unknown>; msg: string }[] = [];
    const logger = { error: (obj: Record<string, unknown>, msg: string) => errors.push({ obj, msg }), warn: () => undefined, info: () => undefined, debug: () => undefined } as unknown as Logger;
    let failWith: unknown = new Error("db down");
    const front = await startFront(
      stubRouterOptions(() => env.provider.url, {
        logger,
        resolve: async () => {
          throw failWith;
        },
      }),
    );
    try {
      const kv = clients.client("connect", front.url);
      expect((await expectConnectError(kv.get({ key: "a" }))).code).toBe(Code.Internal);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.msg).toBe("router: call failed before forwarding");
      expect(errors[0]!.obj).toMatchObject({ service: "kv.v1.KVService", method: "Get" });
      expect((errors[0]!.obj["err"] as Error).message).toBe("db down");
      for (const e of [new ConnectError("no provider", Code.NotFound), new ConnectError("bug reported as such", Code.Internal)]) {
        failWith = e;
        expect((await expectConnectError(kv.get({ key: "a" }))).code).toBe(e.code);
      }
      expect(errors).toHaveLength(1);
    } finally {
      clients.close();
      await front.close();
    }
  });
});
