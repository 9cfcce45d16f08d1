/**
 * Known answers for every field validator, at each limit's boundary and with the exact message (the
 * field named, the value never echoed). Written to kill the mutants of src/validation (docs/testing.md).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  invalid,
  validateCount,
  validateMetadata,
  validatePluginName,
  validateRange,
  validateSecretName,
  validateServiceType,
  validateVersion,
} from "../../../src/validation/fields.js";
import { isLoopbackHost, validateBaseUrl, validateEndpointWithin } from "../../../src/validation/urls.js";

/** "ok" (or the returned value), or the InvalidArgument message. */
function outcome(run: () => unknown): unknown {
  try {
    const value = run();
    return value === undefined ? "ok" : value;
  } catch (e) {
    const error = ConnectError.from(e);
    expect(error.code).toBe(Code.InvalidArgument);
    return error.rawMessage;
  }
}

describe("invalid", () => {
  it("names the field and the problem, as InvalidArgument", () => {
    const error = invalid("plugin_name", "required");
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toBe("plugin_name: required");
  });
});

describe("validatePluginName", () => {
  const check = (value: string, max = 8) => outcome(() => validatePluginName("name", value, max));
  it("accepts lowercase names with inner '.', '_' and '-', up to the byte limit", () => {
    for (const ok of ["a", "kv", "a.b_c-d", "k9", "12345678"]) expect(check(ok)).toBe("ok");
  });
  it("refuses empty, over-long, upper-case and edge punctuation", () => {
    const rule = "name: must be lowercase letters, digits, '.', '_' or '-'";
    expect(check("")).toBe("name: required");
    expect(check("123456789")).toBe("name: longer than 8 bytes");
    expect(check("é", 1)).toBe("name: longer than 1 bytes"); // bytes, not characters
    for (const bad of ["Kv", "-kv", "kv-", ".kv", "kv.", "k v", "kv/x", "x\nkv"]) expect(check(bad)).toBe(rule);
  });
});

describe("validateServiceType", () => {
  const check = (value: string, max = 64) => outcome(() => validateServiceType("service_type", value, max));
  it("accepts fully qualified names", () => {
    for (const ok of ["kv.v1.KVService", "a.B", "_x.y_1"]) expect(check(ok)).toBe("ok");
  });
  it("refuses bare, dotted-wrong, digit-led and padded names", () => {
    const rule = "service_type: must be a fully qualified service name like pkg.v1.Service";
    for (const bad of ["kv", "kv.", ".kv", "kv..v1", "1kv.v1", "kv.1v", "kv.v1.KV ", " kv.v1", "kv.v1-x", "kv.v1\nx.y"]) expect(check(bad)).toBe(rule);
    expect(check("")).toBe("service_type: required");
    expect(check("kv.v1.KV", 7)).toBe("service_type: longer than 7 bytes");
    expect(check("kv.v1.KV", 8)).toBe("ok");
  });
});

describe("validateSecretName", () => {
  const check = (value: string) => outcome(() => validateSecretName("secrets[0].name", value, 32));
  it("accepts '/'-separated segments of letters, digits, '.', '_' and '-'", () => {
    for (const ok of ["db", "db/password", "A-b_c.d/e", "a..b", "x/.y"]) expect(check(ok)).toBe("ok");
  });
  it("refuses empty, '.' and '..' segments and names not starting alphanumeric", () => {
    const rule = "secrets[0].name: must be letters, digits, '.', '_', '-' or '/'-separated segments";
    for (const bad of ["/db", "db/", "db//x", "db/./x", "db/../x", "db/..", ".db", "-db", "db x", "db\\x"]) expect(check(bad)).toBe(rule);
    expect(check("")).toBe("secrets[0].name: required");
  });
});

describe("validateVersion and validateRange", () => {
  it("a version is semver, at most 64 characters, and returned as given", () => {
    const at64 = "1.0.0-" + "a".repeat(58);
    expect(at64).toHaveLength(64);
    expect(outcome(() => validateVersion("v", at64))).toBe(at64);
    expect(outcome(() => validateVersion("v", at64 + "a"))).toBe("v: must be a semver version");
    expect(outcome(() => validateVersion("v", "1.0"))).toBe("v: must be a semver version");
    expect(outcome(() => validateVersion("v", "1.2.3"))).toBe("1.2.3");
  });

  it("an empty range is any version; a range is at most 256 characters", () => {
    expect(outcome(() => validateRange("r", ""))).toBe("*");
    expect(outcome(() => validateRange("r", "^1.0.0"))).toBe("^1.0.0");
    const at256 = ">=1.0.0" + " ".repeat(249);
    expect(at256).toHaveLength(256);
    expect(outcome(() => validateRange("r", at256))).toBe(at256);
    expect(outcome(() => validateRange("r", at256 + " "))).toBe("r: must be a semver range");
    expect(outcome(() => validateRange("r", "not a range"))).toBe("r: must be a semver range");
  });
});

describe("validateMetadata and validateCount", () => {
  const limits = { metadataEntries: 2, metadataKeyBytes: 3, metadataValueBytes: 4 };
  const check = (metadata: Record<string, string>) => outcome(() => validateMetadata("metadata", metadata, limits));
  it("holds entries, key bytes and value bytes at their limits", () => {
    expect(check({ abc: "1234", b: "" })).toBe("ok");
    expect(check({ a: "1", b: "2", c: "3" })).toBe("metadata: more than 2 entries");
    expect(check({ "": "1" })).toBe("metadata: key must be 1..3 bytes");
    expect(check({ abcd: "1" })).toBe("metadata: key must be 1..3 bytes");
    expect(check({ "é": "1" })).toBe("ok"); // 2 bytes
    expect(check({ "éé": "1" })).toBe("metadata: key must be 1..3 bytes"); // 4 bytes, 2 characters
    expect(check({ a: "12345" })).toBe("metadata: value of a key is longer than 4 bytes");
    expect(check({ a: "ééé" })).toBe("metadata: value of a key is longer than 4 bytes"); // 6 bytes, 3 characters
  });
  it("validateCount allows up to max", () => {
    expect(outcome(() => validateCount("provides", 3, 3))).toBe("ok");
    expect(outcome(() => validateCount("provides", 4, 3))).toBe("provides: more than 3 entries");
  });
});

describe("isLoopbackHost", () => {
  it("is localhost, 127.0.0.0/8 and ::1 only", () => {
    for (const yes of ["localhost", "127.0.0.1", "127.255.0.9", "::1", "[::1]"]) expect(isLoopbackHost(yes), yes).toBe(true);
    // Only one bracket is taken off each end, never one inside.
    for (const no of ["[[::1]", "[::1]]", "[127.0.0.1]x"]) expect(isLoopbackHost(no), no).toBe(false);
    for (const no of ["localhost.evil.com", "evil-localhost", "128.0.0.1", "10.127.0.1", "0.0.0.0", "::2", "[::2]", "::ffff:127.0.0.1", "127.0.0.1.nip.io", "127"]) {
      expect(isLoopbackHost(no), no).toBe(false);
    }
  });
});

describe("validateBaseUrl", () => {
  const rules = { allowedEndpointHosts: ["*.svc.cluster.local", "api.example.com"], maxBytes: 64 };
  const check = (value: string) => outcome(() => validateBaseUrl("base_url", value, rules));
  it("returns the origin and path without trailing slashes", () => {
    expect(check("http://127.0.0.1:8080")).toBe("http://127.0.0.1:8080");
    expect(check("http://127.0.0.1:8080/base///")).toBe("http://127.0.0.1:8080/base");
    expect(check("http://[::1]:1/")).toBe("http://[::1]:1");
    expect(check("https://kv.svc.cluster.local/x")).toBe("https://kv.svc.cluster.local/x");
    expect(check("https://a.b.svc.cluster.local")).toBe("https://a.b.svc.cluster.local");
    expect(check("https://API.Example.com")).toBe("https://api.example.com");
  });
  it("refuses look-alike and bare-suffix hosts of a wildcard, and hosts not listed", () => {
    const rule = "base_url: host is not loopback and not in the host's allowedEndpointHosts";
    for (const bad of ["https://svc.cluster.local", "https://evilsvc.cluster.local", "https://.svc.cluster.local", "https://x.api.example.com", "https://example.com", "https://10.0.0.1"]) {
      expect(check(bad), bad).toBe(rule);
    }
  });
  it("refuses non-URLs, other schemes, credentials, queries, fragments, plain http off loopback, and over-long values", () => {
    expect(check("localhost:80")).toBe("base_url: must be http or https"); // parsed as scheme "localhost:"
    expect(check("not a url")).toBe("base_url: not a URL");
    expect(check("ftp://127.0.0.1")).toBe("base_url: must be http or https");
    expect(check("http://u:p@127.0.0.1")).toBe("base_url: must not carry credentials");
    expect(check("http://u@127.0.0.1")).toBe("base_url: must not carry credentials");
    expect(check("http://:p@127.0.0.1")).toBe("base_url: must not carry credentials");
    expect(check("http://127.0.0.1/?q=1")).toBe("base_url: must not have a query or fragment");
    expect(check("http://127.0.0.1/#f")).toBe("base_url: must not have a query or fragment");
    expect(check("http://kv.svc.cluster.local")).toBe("base_url: plain http is only accepted on loopback; use https");
    const at64 = "http://127.0.0.1/" + "a".repeat(47);
    expect(at64).toHaveLength(64);
    expect(check(at64)).toBe(at64);
    expect(check(at64 + "a")).toBe("base_url: longer than 64 bytes");
  });
});

describe("validateEndpointWithin", () => {
  const base = "http://127.0.0.1:8080/base";
  const check = (endpoint: string, b = base) => outcome(() => validateEndpointWithin("endpoint", endpoint, b));
  it("accepts the base itself and paths under it, normalised", () => {
    expect(check("http://127.0.0.1:8080/base")).toBe("http://127.0.0.1:8080/base");
    expect(check("http://127.0.0.1:8080/base/")).toBe("http://127.0.0.1:8080/base");
    expect(check("http://127.0.0.1:8080/base/kv/")).toBe("http://127.0.0.1:8080/base/kv");
    expect(check("http://127.0.0.1:8080/base//")).toBe("http://127.0.0.1:8080/base");
    expect(check("http://127.0.0.1:8080/base/kv", "http://127.0.0.1:8080/base//")).toBe("http://127.0.0.1:8080/base/kv");
    expect(check("http://127.0.0.1:8080/anything", "http://127.0.0.1:8080")).toBe("http://127.0.0.1:8080/anything");
  });
  it("refuses a sibling path sharing the prefix, another origin, credentials, queries and fragments", () => {
    const rule = "endpoint: must lie inside the plugin's declared base URL";
    for (const bad of [
      "http://127.0.0.1:8080/basement",
      "http://127.0.0.1:8080/",
      "http://127.0.0.1:8081/base",
      "https://127.0.0.1:8080/base",
      "http://localhost:8080/base",
      "http://u:p@127.0.0.1:8080/base",
      "http://u@127.0.0.1:8080/base",
      "http://:p@127.0.0.1:8080/base",
      "http://127.0.0.1:8080/base?x=1",
      "http://127.0.0.1:8080/base#x",
      "http://127.0.0.1:8080/base/../other",
    ]) {
      expect(check(bad), bad).toBe(rule);
    }
    expect(check("nope")).toBe("endpoint: not a URL");
  });
});
