import { Code, ConnectError } from "@connectrpc/connect";
import fc from "fast-check";
import semver from "semver";
import { describe, expect, it } from "vitest";
import { createVersionNegotiator, negotiateVersion } from "../../src/handshake/negotiate.js";
import { DEFAULT_LIMITS } from "../../src/protocol/constants.js";
import { signCallerHeader, verifyCallerHeader } from "../../src/protocol/caller-header.js";
import { parseCallPath } from "../../src/router/call-path.js";
import {
  isLoopbackHost,
  validateBaseUrl,
  validateCount,
  validateEndpointWithin,
  validateMetadata,
  validatePluginName,
  validateRange,
  validateSecretName,
  validateServiceType,
  validateVersion,
} from "../../src/validation/index.js";

/**
 * Property tests over every validator and parser an attacker can feed: they never
 * fail in any way but ConnectError(InvalidArgument), never echo the input, and what
 * they accept has the promised shape.
 */
const RUNS = { numRuns: 500 };
const anyText = fc.oneof(fc.string(), fc.string({ unit: "binary", maxLength: 300 }), fc.string({ unit: fc.constantFrom(..."aZ09._-/:@%?#[]\\ \u0000\u202e..é"), maxLength: 80 }));
const MARK = "ZQXJ"; // unlikely in messages: lets us check the value is not echoed

/** Runs a validator; returns "ok" or the error, and fails on anything but ConnectError(InvalidArgument). */
function outcome(run: () => unknown): "ok" | ConnectError {
  try {
    run();
    return "ok";
  } catch (e) {
    expect(e).toBeInstanceOf(ConnectError);
    expect((e as ConnectError).code).toBe(Code.InvalidArgument);
    return e as ConnectError;
  }
}
const bytes = (s: string) => Buffer.byteLength(s, "utf8");

describe("field validators", () => {
  it("plugin names: only lowercase names within the byte limit pass; refusals never echo", () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(anyText, fc.stringMatching(/^[a-z0-9._-]{0,20}$/)), (raw) => {
        const value = raw + MARK.toLowerCase();
        const r = outcome(() => validatePluginName("plugin_name", value, DEFAULT_LIMITS.nameBytes));
        if (r === "ok") {
          accepted++;
          expect(/^[a-z0-9._-]+$/.test(value) && bytes(value) <= DEFAULT_LIMITS.nameBytes).toBe(true);
        } else expect(r.message).not.toContain(value);
      }),
      RUNS,
    );
    expect(accepted).toBeGreaterThan(50); // not vacuous
  });

  it("service types: accepted ones are dotted identifiers within the limit", () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(anyText, fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}(\.[A-Za-z_][A-Za-z0-9_]{0,10}){0,4}$/)), (value) => {
        const r = outcome(() => validateServiceType("service_type", value, DEFAULT_LIMITS.nameBytes));
        if (r === "ok") {
          accepted++;
          expect(value.includes(".") && bytes(value) <= DEFAULT_LIMITS.nameBytes).toBe(true);
          expect(value.split(".").every((s) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(s))).toBe(true);
        }
      }),
      RUNS,
    );
    expect(accepted).toBeGreaterThan(50);
  });

  it("secret names: no empty, '.' or '..' segment, no leading slash", () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(anyText, fc.array(fc.constantFrom("a", "..", ".", "", "db", "x.y"), { maxLength: 5 }).map((a) => a.join("/"))), (value) => {
        const r = outcome(() => validateSecretName("name", value, DEFAULT_LIMITS.nameBytes));
        if (r === "ok") {
          accepted++;
          expect(value.split("/").every((s) => s !== "" && s !== "." && s !== "..")).toBe(true);
        }
      }),
      RUNS,
    );
    expect(accepted).toBeGreaterThan(30);
  });

  it("versions and ranges: accepted means semver says so", () => {
    let versions = 0;
    let ranges = 0;
    const versionLike = fc.tuple(fc.nat(30), fc.nat(30), fc.nat(30), fc.constantFrom("", "-rc.1", "+b7", "-", ".0")).map(([a, b, c, tail]) => `${a}.${b}.${c}${tail}`);
    const rangeLike = fc.tuple(fc.constantFrom("^", "~", ">=", "<", "", "=", "!"), versionLike).map(([op, v]) => op + v);
    fc.assert(
      fc.property(fc.oneof(anyText, versionLike, rangeLike), (value) => {
        if (outcome(() => validateVersion("version", value)) === "ok") {
          versions++;
          expect(semver.valid(value)).not.toBeNull();
        }
        const r = outcome(() => validateRange("range", value));
        if (r === "ok" && value !== "") {
          ranges++;
          expect(semver.validRange(value)).not.toBeNull();
        }
      }),
      RUNS,
    );
    expect(versions).toBeGreaterThan(30);
    expect(ranges).toBeGreaterThan(30);
  });

  it("metadata: accepted maps are within every limit, counted in bytes", () => {
    const limits = { metadataEntries: 4, metadataKeyBytes: 8, metadataValueBytes: 16 };
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 12 }), fc.string({ maxLength: 24 }), { maxKeys: 6 }), (metadata) => {
        const r = outcome(() => validateMetadata("metadata", metadata, limits));
        const entries = Object.entries(metadata);
        const within =
          entries.length <= 4 && entries.every(([k, v]) => k.length > 0 && bytes(k) <= 8 && bytes(v) <= 16);
        expect(r === "ok").toBe(within);
      }),
      RUNS,
    );
  });

  it("counts", () => {
    fc.assert(
      fc.property(fc.nat(200), fc.nat(200), (n, max) => {
        expect(outcome(() => validateCount("x", n, max)) === "ok").toBe(n <= max);
      }),
      RUNS,
    );
  });
});

/** URLs built from parts an attacker would combine. */
const hostPart = fc.oneof(
  fc.constantFrom("127.0.0.1", "localhost", "[::1]", "169.254.169.254", "10.0.0.1", "0.0.0.0", "2130706433", "0x7f000001", "[::ffff:127.0.0.1]", "[::]", "localhost.", "evil.example", "127.0.0.1.evil.example", "kv.svc.cluster.local", "svc.cluster.local", "KV.SVC.CLUSTER.LOCAL"),
  fc.ipV4().map(String),
  fc.ipV6().map((ip) => `[${ip}]`),
  fc.domain(),
);
const nearlyValid = fc
  .tuple(
    fc.constantFrom("http://", "https://"),
    fc.constantFrom("127.0.0.1", "127.8.9.10", "localhost", "LOCALHOST", "[::1]", "[0:0:0:0:0:0:0:1]", "2130706433", "kv.svc.cluster.local", "plugins.internal", "plugins.internal.", "a.b.svc.cluster.local", "evil.example"),
    fc.option(fc.integer({ min: 1, max: 65535 }).map((p) => `:${p}`), { nil: "" }),
    fc.array(fc.constantFrom("a", "kv", "..", "%2e"), { maxLength: 3 }).map((a) => (a.length ? "/" + a.join("/") : "")),
  )
  .map((parts) => parts.join(""));
const urlLike = fc.oneof(
  nearlyValid,
  nearlyValid,
  anyText,
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  fc.tuple(
    fc.constantFrom("http://", "https://", "ftp://", "file://", "http:/", "HTTP://", "//"),
    fc.option(fc.constantFrom("user@", "user:pw@", "127.0.0.1@", ":@"), { nil: "" }),
    hostPart,
    fc.option(fc.integer({ min: 0, max: 70000 }).map((p) => `:${p}`), { nil: "" }),
    fc.array(fc.constantFrom("a", "..", ".", "%2e%2e", "", "b c", "@evil"), { maxLength: 4 }).map((a) => (a.length ? "/" + a.join("/") : "")),
    fc.constantFrom("", "?q=1", "#f", "\\@evil.example"),
  ).map((parts) => parts.join("")),
);

describe("URL validators (SSRF)", () => {
  it("isLoopbackHost never throws", () => {
    fc.assert(
      fc.property(fc.oneof(anyText, hostPart), (h) => {
        expect(typeof isLoopbackHost(h)).toBe("boolean");
      }),
      RUNS,
    );
  });

  it("accepted base URLs are loopback, or an allowed host over https, without credentials, query or fragment", () => {
    const allowed = ["*.svc.cluster.local", "plugins.internal"];
    let accepted = 0;
    fc.assert(
      fc.property(urlLike, (value) => {
        for (const allowedEndpointHosts of [[], allowed]) {
          const r = outcome(() => validateBaseUrl("base_url", value, { allowedEndpointHosts, maxBytes: DEFAULT_LIMITS.urlBytes }));
          if (r !== "ok") continue;
          accepted++;
          const url = new URL(validateBaseUrl("base_url", value, { allowedEndpointHosts, maxBytes: DEFAULT_LIMITS.urlBytes }));
          expect(url.username + url.password + url.search + url.hash).toBe("");
          const host = url.hostname.toLowerCase();
          const isAllowed = host === "plugins.internal" || (host.endsWith(".svc.cluster.local") && host.length > ".svc.cluster.local".length);
          expect(isLoopbackHost(url.hostname) || (allowedEndpointHosts.length > 0 && isAllowed && url.protocol === "https:")).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
    // The property is not vacuous: plenty of generated URLs were accepted and checked.
    expect(accepted).toBeGreaterThan(50);
  });

  it("accepted endpoints always lie inside the base URL", () => {
    let accepted = 0;
    const base = fc.tuple(fc.constantFrom("http://127.0.0.1:7000", "https://kv.svc.cluster.local", "http://[::1]:9"), fc.constantFrom("", "/plugins/kv", "/a"));
    const suffix = fc.array(fc.constantFrom("x", "..", ".", "%2e%2e", "%2E.", "", "kv2", "..%2f", "\\..", "?a", "#b"), { maxLength: 5 }).map((a) => a.join("/"));
    fc.assert(
      fc.property(base, suffix, fc.oneof(fc.constant(""), fc.constantFrom("http://127.0.0.1:7001", "http://localhost:7000", "https://evil.example", "http://user@127.0.0.1:7000")), ([origin, prefix], tail, otherOrigin) => {
        const baseUrl = origin + prefix;
        const endpoint = (otherOrigin || origin) + prefix + (tail ? "/" + tail : "");
        const r = outcome(() => validateEndpointWithin("endpoint", endpoint, baseUrl));
        if (r !== "ok") return;
        accepted++;
        const url = new URL(validateEndpointWithin("endpoint", endpoint, baseUrl));
        const b = new URL(baseUrl);
        expect(url.origin).toBe(b.origin);
        const basePath = b.pathname.replace(/\/+$/, "");
        expect(url.pathname === basePath || url.pathname.startsWith(basePath + "/") || (basePath === "" && url.pathname === "/")).toBe(true);
        expect(url.pathname.split("/").some((s) => s === ".." || s === ".")).toBe(false);
      }),
      { numRuns: 2000 },
    );
    expect(accepted).toBeGreaterThan(50);
  });
});

describe("router call path", () => {
  it("never throws; refusals are Unimplemented or InvalidArgument; accepted paths have the promised shape", () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.option(fc.oneof(anyText, anyText.map((s) => `/${s}`), fc.stringMatching(/^\/[A-Za-z_][\w.]{0,20}\/[A-Za-z_]\w{0,20}(\?.*)?$/)), { nil: undefined }), (raw) => {
        const r = parseCallPath(raw);
        if (r instanceof ConnectError) {
          expect([Code.Unimplemented, Code.InvalidArgument]).toContain(r.code);
          return;
        }
        expect(r.rawPath).toBe(raw);
        expect(r.procedure).toBe(`/${r.service}/${r.method}`);
        expect(raw!.startsWith(r.procedure)).toBe(true);
        expect(r.service.length).toBeLessThanOrEqual(DEFAULT_LIMITS.nameBytes);
        expect(r.method.length).toBeLessThanOrEqual(DEFAULT_LIMITS.nameBytes);
        expect(/^[\w.]+$/.test(r.service) && /^\w+$/.test(r.method)).toBe(true);
        accepted++;
      }),
      { numRuns: 2000 },
    );
    expect(accepted).toBeGreaterThan(100);
  });
});

describe("caller header", () => {
  const key = Buffer.alloc(32, 9);
  const claims = fc.record({
    subject: fc.string({ minLength: 1, maxLength: 60 }),
    method: fc.constantFrom("token", "mtls", "jwt"),
    runtimeId: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
    pluginName: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
  });
  const PATH = "/kv.v1.KVService/Get";

  it("verifying never throws on arbitrary input, and accepts nothing it did not sign", () => {
    fc.assert(
      fc.property(anyText, (value) => {
        expect(verifyCallerHeader(value, key, PATH)).toBeUndefined();
      }),
      RUNS,
    );
  });

  it("round-trips signed claims, bound to key, path and any single-character change", () => {
    fc.assert(
      fc.property(claims, fc.nat(), fc.string({ minLength: 1, maxLength: 1 }), (c, at, ch) => {
        const clean = Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)) as typeof c;
        const now = 1_700_000_000_000;
        const header = signCallerHeader({ ...clean, path: PATH }, key, now);
        expect(verifyCallerHeader(header, key, PATH, { now })).toEqual({ ...clean, path: PATH, issuedAtMs: now });
        expect(verifyCallerHeader(header, Buffer.alloc(32, 8), PATH, { now })).toBeUndefined();
        expect(verifyCallerHeader(header, key, "/kv.v1.KVService/Put", { now })).toBeUndefined();
        expect(verifyCallerHeader(header, key, PATH, { now: now + 61_000 })).toBeUndefined();
        const i = at % header.length;
        if (header[i] !== ch) {
          const mutated = header.slice(0, i) + ch + header.slice(i + 1);
          expect(verifyCallerHeader(mutated, key, PATH, { now })).toBeUndefined();
        }
      }),
      RUNS,
    );
  });
});

describe("version negotiation", () => {
  type V = [number, number, number];
  const version = fc.tuple(fc.nat(12), fc.nat(12), fc.nat(12));
  const text = ([a, b, c]: V) => `${a}.${b}.${c}`;
  const cmp = (x: V, y: V) => x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
  /** An oracle written from the semver rules, independent of the semver package the code uses. */
  type Range = { text: string; holds: (v: V) => boolean };
  const range: fc.Arbitrary<Range> = fc.oneof(
    version.map((r): Range => ({
      text: `^${text(r)}`,
      holds: (v) =>
        cmp(v, r) >= 0 && (r[0] > 0 ? v[0] === r[0] : r[1] > 0 ? v[0] === 0 && v[1] === r[1] : v[0] === 0 && v[1] === 0 && v[2] === r[2]),
    })),
    version.map((r): Range => ({ text: `~${text(r)}`, holds: (v) => v[0] === r[0] && v[1] === r[1] && v[2] >= r[2] })),
    version.map((r): Range => ({ text: `>=${text(r)}`, holds: (v) => cmp(v, r) >= 0 })),
    version.map((r): Range => ({ text: `<${text(r)}`, holds: (v) => cmp(v, r) < 0 })),
    fc.nat(12).map((m): Range => ({ text: `${m}.x`, holds: (v) => v[0] === m })),
    fc.constant<Range>({ text: "*", holds: () => true }),
    fc.constant<Range>({ text: "1.0.0 - 2.0.0", holds: (v) => cmp(v, [1, 0, 0]) >= 0 && cmp(v, [2, 0, 0]) <= 0 }),
    fc.constant<Range>({ text: ">=1 <1", holds: () => false }),
  );

  it("picks the highest host version that some offered range allows, by numeric order", () => {
    let agreed = 0;
    fc.assert(
      fc.property(fc.array(version, { minLength: 1, maxLength: 6 }), fc.array(range, { maxLength: 4 }), (hostVersions, ranges) => {
        const chosen = negotiateVersion(hostVersions.map(text), ranges.map((r) => r.text));
        const allowed = ranges.length === 0 ? hostVersions : hostVersions.filter((v) => ranges.some((r) => r.holds(v)));
        const best = allowed.reduce<V | undefined>((m, v) => (m === undefined || cmp(v, m) > 0 ? v : m), undefined);
        expect(chosen).toBe(best === undefined ? undefined : text(best));
        if (best !== undefined) agreed++;
      }),
      { numRuns: 1000 },
    );
    expect(agreed).toBeGreaterThan(200);
  });

  it("the host's memoised negotiator answers as negotiateVersion, asked again or after its memory is full", () => {
    fc.assert(
      fc.property(fc.array(version, { minLength: 1, maxLength: 6 }), fc.array(fc.array(range, { maxLength: 3 }), { maxLength: 8 }), (hostVersions, offers) => {
        const negotiate = createVersionNegotiator(hostVersions.map(text), { maxOffers: 3 });
        for (const offer of [...offers, ...offers]) {
          const ranges = offer.map((r) => r.text);
          expect(negotiate(ranges)).toBe(negotiateVersion(hostVersions.map(text), ranges));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("the memoised negotiator validates each new offer, and remembers no refused one", () => {
    const seen: string[][] = [];
    const negotiate = createVersionNegotiator(["1.0.0"], {
      validate: (ranges) => {
        seen.push([...ranges]);
        if (ranges.includes("bad")) throw new Error("refused");
      },
    });
    expect(negotiate(["^1.0.0"])).toBe("1.0.0");
    expect(negotiate(["^1.0.0"])).toBe("1.0.0");
    expect(() => negotiate(["bad"])).toThrow("refused");
    expect(() => negotiate(["bad"])).toThrow("refused");
    expect(seen).toEqual([["^1.0.0"], ["bad"], ["bad"]]);
  });

  it("known answers: numeric, not string, order; no common version is undefined", () => {
    expect(negotiateVersion(["1.2.0", "1.10.0", "1.9.0"], ["^1.0.0"])).toBe("1.10.0");
    expect(negotiateVersion(["1.2.0", "1.10.0"], ["~1.2.0"])).toBe("1.2.0");
    expect(negotiateVersion(["0.2.5", "0.3.0"], ["^0.2.1"])).toBe("0.2.5");
    expect(negotiateVersion(["1.0.0", "2.0.0"], [">=3.0.0"])).toBeUndefined();
    expect(negotiateVersion(["1.0.0", "2.0.0"], [])).toBe("2.0.0");
    expect(negotiateVersion(["1.0.0", "2.0.0"], ["not a range"])).toBeUndefined();
  });
});
