import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { createDevCa, issueCertificate } from "../../../src/identity/certs.js";
import type { Plugin } from "../../../src/sdk/index.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { bytes, kvConsumer, kvProvider, messages, text, enrolled } from "./harness.js";

describe("SDK over TLS: https host, provider serving mTLS to the host", () => {
  let host: TestHost;
  let provider: Plugin;
  let consumer: Plugin;
  let caPem = "";

  beforeAll(async () => {
    const ca = await createDevCa();
    caPem = ca.certPem;
    const hostServer = await issueCertificate(ca, { usage: "server", commonName: "host", ipAddresses: ["127.0.0.1"] });
    const hostClient = await issueCertificate(ca, { usage: "client", commonName: "plugboard-host" });
    const providerServer = await issueCertificate(ca, { usage: "server", commonName: "provider", ipAddresses: ["127.0.0.1"] });
    host = await startTestHost(
      { upstreamTls: { ca: ca.certPem, cert: hostClient.certPem, key: hostClient.keyPem } },
      { tls: { cert: hostServer.certPem, key: hostServer.keyPem } },
      { ca: ca.certPem },
    );
    expect(host.url).toMatch(/^https:/);
    provider = kvProvider(host.url, {}, { ...(await enrolled(host, "kv-provider")),
      hostTls: { ca: ca.certPem },
      // ca set: only clients with a certificate from this CA (the host) may connect.
      listen: { tls: { cert: providerServer.certPem, key: providerServer.keyPem, ca: ca.certPem } },
    });
    await provider.start();
    consumer = kvConsumer(host.url, { ...(await enrolled(host, "consumer")), hostTls: { ca: ca.certPem } });
    await consumer.start();
  });
  afterAll(async () => {
    await consumer?.stop();
    await provider?.stop();
    await host?.close();
  });

  it("routes every call kind end to end over TLS", async () => {
    expect(provider.url).toMatch(/^https:\/\/127\.0\.0\.1:/);
    const kv = consumer.client(KVService, { protocol: "grpc" });
    await kv.put({ key: "t", value: bytes("secure") });
    const got = await kv.get({ key: "t" });
    expect(text(got.value)).toBe("secure");
    expect(got.caller).toBe(`runtime:${consumer.runtimeId}`);
    expect((await kv.putMany(messages([{ key: "u", value: bytes("1") }]))).count).toBe(1);
    const replies: string[] = [];
    for await (const r of kv.exchange(messages([{ text: "hi" }]))) replies.push(r.text);
    expect(replies).toEqual(["echo: hi"]);
  });

  it("the provider's TLS server refuses clients without a certificate from the CA", async () => {
    const session = http2.connect(provider.url, { ca: caPem });
    const failed = await new Promise<boolean>((resolve) => {
      session.once("error", () => resolve(true));
      const req = session.request({ ":path": "/kv.v1.KVService/Get", ":method": "POST" });
      req.once("error", () => resolve(true));
      req.once("response", () => resolve(false));
      req.end();
    });
    session.destroy();
    expect(failed).toBe(true);
  });
});
