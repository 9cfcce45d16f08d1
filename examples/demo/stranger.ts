import { create } from "@bufbuild/protobuf";
import { ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { HandshakeRequestSchema, HandshakeService } from "../../gen/plugboard/v1/handshake_pb.js";
import { CORE_PROTOCOL_VERSION } from "../../src/protocol/constants.js";
import { EXAMPLE_COOKIE } from "../cookie.js";

/** Handshakes as `name` with the right cookie and no proof; returns the host's refusal (code: message). */
export async function strangerClaims(hostUrl: string, name: string): Promise<string> {
  const sessions = new Http2SessionManager(hostUrl);
  const client = createClient(HandshakeService, createConnectTransport({ baseUrl: hostUrl, httpVersion: "2", sessionManager: sessions }));
  try {
    await client.handshake(
      create(HandshakeRequestSchema, {
        magicCookieKey: EXAMPLE_COOKIE.key,
        magicCookieValue: EXAMPLE_COOKIE.value,
        coreProtocolVersion: CORE_PROTOCOL_VERSION,
        pluginName: name,
        pluginVersion: "6.6.6",
      }),
    );
    return "ADMITTED (this must never happen)";
  } catch (e) {
    const err = ConnectError.from(e);
    return err.message.split(":")[0] ?? err.message;
  } finally {
    sessions.abort();
  }
}
