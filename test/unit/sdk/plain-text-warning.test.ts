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
