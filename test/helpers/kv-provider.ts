import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { GetResponseSchema, KVService, PutResponseSchema } from "../../gen/kv/v1/kv_pb.js";
import { HEADER_CALLER } from "../../src/protocol/constants.js";
import { verifyCallerHeader } from "../../src/protocol/caller-header.js";

/**
 * A minimal KVService provider for host tests: refuses calls without a caller header
 * signed with the key it was given after its handshake, and answers Get with the caller's subject.
 */
export async function startKvProvider() {
  const state = { key: undefined as Buffer | undefined, data: new Map<string, Uint8Array>() };
  const verify = (header: string | null, path: string) => {
    const claims = state.key && verifyCallerHeader(header, state.key, path);
    if (!claims) throw new ConnectError("call did not come through the host", Code.Unauthenticated);
    return claims;
  };
  const server = http2.createServer(
    connectNodeAdapter({
      routes: (router) =>
        router.service(KVService, {
          async get(req, context) {
            const claims = verify(context.requestHeader.get(HEADER_CALLER), "/kv.v1.KVService/Get");
            const value = state.data.get(req.key);
            return create(GetResponseSchema, { key: req.key, found: value !== undefined, value: value ?? new Uint8Array(), caller: claims.subject });
          },
          async put(req, context) {
            verify(context.requestHeader.get(HEADER_CALLER), "/kv.v1.KVService/Put");
            state.data.set(req.key, req.value);
            return create(PutResponseSchema);
          },
        }),
    }),
  );
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => (sessions.add(s), s.once("close", () => sessions.delete(s))));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    setKey(key: Uint8Array) {
      state.key = Buffer.from(key);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.destroy();
      }),
  };
}
