import { Writable } from "node:stream";
import { expect, it } from "vitest";
import { createLogger } from "../../../src/log/logger.js";
import { warnPlainText } from "../../../src/sdk/plain-text-warning.js";

function capture() {
  const lines: string[] = [];
  const log = createLogger({ destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
  return { log, lines };
}

it("warns about plain text off loopback, in both directions, and stays quiet on loopback or TLS", () => {
  const quiet = capture();
  warnPlainText(quiet.log, "http://127.0.0.1:7777", { hostname: "127.0.0.1", tls: false });
  warnPlainText(quiet.log, "https://plugins.example:443", { hostname: "0.0.0.0", tls: true });
  expect(quiet.lines).toEqual([]);

  const loud = capture();
  warnPlainText(loud.log, "http://10.1.2.3:7777", { hostname: "0.0.0.0", tls: false });
  expect(loud.lines).toHaveLength(2);
  expect(loud.lines[0]).toContain("connecting to the host in plain text off loopback");
  expect(loud.lines[1]).toContain("serving plain-text h2c off loopback");
});

it("each warning stands alone and names what it is about; no serving address is no serving warning", () => {
  const hostOnly = capture();
  warnPlainText(hostOnly.log, "http://10.1.2.3:7777/some/path", undefined);
  expect(hostOnly.lines).toHaveLength(1);
  expect(JSON.parse(hostOnly.lines[0]!)).toMatchObject({ level: 40, hostUrl: "http://10.1.2.3:7777" });

  const servingOnly = capture();
  warnPlainText(servingOnly.log, "https://10.1.2.3:7777", { hostname: "192.0.2.7", tls: false });
  expect(servingOnly.lines).toHaveLength(1);
  expect(JSON.parse(servingOnly.lines[0]!)).toMatchObject({ level: 40, bindAddress: "192.0.2.7" });
  expect(servingOnly.lines[0]).toContain("serving plain-text h2c off loopback");

  const tlsOffLoopback = capture();
  warnPlainText(tlsOffLoopback.log, "http://localhost:7777", { hostname: "192.0.2.7", tls: true });
  expect(tlsOffLoopback.lines).toEqual([]);
});
