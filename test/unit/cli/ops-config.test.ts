import { describe, expect, it } from "vitest";
import { parseHostConfig } from "../../../src/cli/host-config.js";

const base = { magicCookie: { key: "K", value: "V" } };
const parse = (extra: object) => parseHostConfig({ ...base, ...extra }, "/etc/plugboard", {});

describe("host config: ops and adminCredentials", () => {
  it("no ops block, no ops listener; the block defaults to loopback and any free port", () => {
    expect(parse({}).ops).toBeUndefined();
    expect(parse({ ops: {} }).ops).toEqual({ port: 0, hostname: "127.0.0.1" });
    expect(parse({ ops: { port: 9090, hostname: "0.0.0.0", recentAuditEvents: 50, maxEventStreams: 4 } }).ops).toEqual({
      port: 9090,
      hostname: "0.0.0.0",
      recentAuditEvents: 50,
      maxEventStreams: 4,
    });
  });

  it("names the key of a bad value", () => {
    expect(() => parse({ ops: { prot: 1 } })).toThrow("config ops.prot: unknown setting");
    expect(() => parse({ ops: { port: 70_000 } })).toThrow("config ops.port");
    expect(() => parse({ ops: { recentAuditEvents: 0 } })).toThrow("config ops.recentAuditEvents");
    expect(() => parse({ adminCredentials: 3 })).toThrow("config adminCredentials: must be a file path or false");
  });

  it("adminCredentials: a path relative to the config file, or false", () => {
    expect(parse({}).adminCredentials).toBeUndefined();
    expect(parse({ adminCredentials: "run/admin.json" }).adminCredentials).toBe("/etc/plugboard/run/admin.json");
    expect(parse({ adminCredentials: false }).adminCredentials).toBe(false);
  });
});
