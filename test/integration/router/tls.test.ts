import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { createDevCa, issueCertificate } from "../../../src/identity/certs.js";
import { clientFactory, expectConnectError, startFront, stubRouterOptions } from "./harness.js";

describe("router to an https provider with mTLS", () => {
  let provider: http2.Http2SecureServer;
  let providerUrl = "";
  let front: Awaited<ReturnType<typeof startFront>>;
  let noClientCertFront: Awaited<ReturnType<typeof startFront>>;
  const peers: string[] = [];
  const clients = clientFactory();

  beforeAll(async () => {
    const ca = await createDevCa();
    const serverCert = await issueCertificate(ca, { usage: "server", commonName: "provider", ipAddresses: ["127.0.0.1"] });
    const hostClient = await issueCertificate(ca, { usage: "client", commonName: "plugboard-host" });
    provider = http2.createSecureServer(
      { cert: serverCert.certPem, key: serverCert.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true },
      connectNodeAdapter({
        routes: (r) =>
          r.service(KVService, {
            get: (req) => ({ key: req.key, found: false, value: new Uint8Array(), caller: "" }),
          }),
      }),
    );
    provider.on("secureConnection", (s) => peers.push(String(s.getPeerCertificate().subject?.CN ?? "")));
    await new Promise<void>((r) => provider.listen(0, "127.0.0.1", r));
    providerUrl = `https://127.0.0.1:${(provider.address() as AddressInfo).port}`;
    front = await startFront(
      stubRouterOptions(() => providerUrl, { upstreamTls: { ca: ca.certPem, cert: hostClient.certPem, key: hostClient.keyPem } }),
    );
    noClientCertFront = await startFront(stubRouterOptions(() => providerUrl, { upstreamTls: { ca: ca.certPem } }));
  });
  afterAll(async () => {
    clients.close();
    await front.close();
    await noClientCertFront.close();
    await new Promise<void>((r) => provider.close(() => r()));
  });

  it("forwards over TLS presenting the host's client certificate", async () => {
    const kv = clients.client("grpc", front.url);
    expect((await kv.get({ key: "tls" })).key).toBe("tls");
    expect(peers).toContain("plugboard-host");
  });

  it("provider refusing the handshake → Unavailable", async () => {
    const kv = clients.client("connect", noClientCertFront.url);
    expect((await expectConnectError(kv.get({ key: "tls" }))).code).toBe(Code.Unavailable);
  });
});
