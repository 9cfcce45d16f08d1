import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer } from "../helpers/transports.js";
import { codeOf, KV, startAttackHost, type AttackHost } from "./harness.js";

/**
 * A plugin names where it serves; the router will later send traffic there. A plugin
 * must not be able to point the router at other hosts (cloud metadata, private
 * networks) by any spelling of the URL. The host trusts loopback and an explicit
 * allow-list (here `plugins.internal` and `*.svc.cluster.local`).
 */
const ELSEWHERE = [
  "http://169.254.169.254/latest/meta-data",
  "https://169.254.169.254/",
  "http://10.0.0.1/",
  "http://192.168.1.1/",
  "http://172.16.0.1/",
  "http://0.0.0.0:8080/",
  "http://127.0.0.1@evil.example/",
  "http://user:pass@127.0.0.1/",
  "http://evil.example#@127.0.0.1/",
  "http://evil.example?@127.0.0.1/",
  "http://127.0.0.1.nip.io/",
  "http://localhost.evil.example/",
  "http://[::ffff:169.254.169.254]/",
  "http://[::ffff:10.0.0.1]/",
  "http://[fd00::1]/",
  "http://[fe80::1]/",
  "http://[::]/",
  "http://2852039166/", // 169.254.169.254 as a decimal
  "http://167772161/", // 10.0.0.1 as a decimal
  "http://0xa9fea9fe/", // 169.254.169.254 in hex
  "http://0251.0376.0251.0376/", // octal
  "http://localhost./", // trailing dot: a different name than the allowed one
  "https://plugins.internal./",
  "https://evil.svc.cluster.local.attacker.example/",
  "https://svc.cluster.local/", // the wildcard needs a label before it
  "http://plugins.internal/", // allowed host, but plain http off loopback
  "file:///etc/passwd",
  "gopher://127.0.0.1:6379/",
  "ftp://127.0.0.1/",
  "not a url",
  `http://127.0.0.1/${"a".repeat(3000)}`,
];

let h: AttackHost;
beforeAll(async () => {
  h = await startAttackHost({ allowedEndpointHosts: ["plugins.internal", "*.svc.cluster.local"] });
});
afterAll(async () => h?.close());

describe("SSRF through plugin endpoints", () => {
  it.each(ELSEWHERE)("handshake refuses base URL %s", async (baseUrl) => {
    expect(await codeOf(h.t.handshake({ pluginName: "ssrf", baseUrl, provides: [{ type: KV, version: "1.0.0" }] }))).toBe(Code.InvalidArgument);
  });

  it.each(ELSEWHERE)("register refuses endpoint %s", async (endpoint) => {
    const { registry } = h.t.clients("connect");
    expect(await codeOf(registry.register({ serviceType: KV, endpoint }, bearer(h.kvProvider.token)))).toBe(Code.InvalidArgument);
  });

  it("endpoints must stay inside the base URL: other ports, schemes and host spellings are refused", async () => {
    const { registry } = h.t.clients("connect");
    const base = new URL(h.providerUrl);
    const other = [
      `http://127.0.0.1:${Number(base.port) + 1}/`,
      `https://127.0.0.1:${base.port}/`,
      `http://localhost:${base.port}/`,
      `http://[::1]:${base.port}/`,
    ];
    for (const endpoint of other)
      expect(await codeOf(registry.register({ serviceType: KV, endpoint }, bearer(h.kvProvider.token))), endpoint).toBe(Code.InvalidArgument);
    expect(await codeOf(registry.register({ serviceType: KV, endpoint: `${h.providerUrl}/v2` }, bearer(h.kvProvider.token)))).toBe("ok");
  });

  it("allowed hosts are accepted as configured (the allow-list works, so the refusals above are meaningful)", async () => {
    for (const baseUrl of ["https://plugins.internal:8443", "https://kv.default.svc.cluster.local", "http://127.0.0.1:9", "http://[::1]:9"])
      expect(await codeOf(h.t.handshake({ pluginName: "ok", baseUrl, provides: [{ type: KV, version: "1.0.0" }] })), baseUrl).toBe("ok");
  });
});
