import { Code } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createVaultSecretProvider, type VaultProviderOptions } from "../../../src/secrets/vault.js";
import { startFakeVault, type FakeVault } from "../../integration/secrets/fake-vault.js";
import { recordingLogger } from "./recording-logger.js";
import { failure, text } from "../../helpers/secrets.js";

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
  signal: AbortSignal | undefined;
}

/**
 * A fetch that records each request and answers from `route` (a real Response, a status with a JSON body,
 * or an error to throw), to check what the provider sends and how it reads each answer.
 */
function stubFetch(route: (seen: Seen) => Response | [number, unknown?] | Error) {
  const seen: Seen[] = [];
  const fetch: typeof globalThis.fetch = (async (input: string | URL, init: RequestInit = {}) => {
    const request: Seen = {
      method: init.method ?? "GET",
      url: String(input),
      headers: { ...(init.headers as Record<string, string>) },
      body: init.body as string | undefined,
      signal: init.signal ?? undefined,
    };
    seen.push(request);
    const answer = route(request);
    if (answer instanceof Error) throw answer;
    if (answer instanceof Response) return answer;
    const [status, body] = answer;
    return new Response(body === undefined ? null : JSON.stringify(body), { status });
  }) as typeof globalThis.fetch;
  return { fetch, seen };
}

const kv = (data: Record<string, unknown>, metadata: Record<string, unknown> = { version: 3 }) => [200, { data: { data, metadata } }] as [number, unknown];

function vault(route: Parameters<typeof stubFetch>[0], options: Partial<VaultProviderOptions> = {}) {
  const stub = stubFetch(route);
  const provider = createVaultSecretProvider({ address: "http://vault.test:8200", token: "hvs.t1", renewToken: false, fetch: stub.fetch, ...options });
  return { provider, seen: stub.seen };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("vault provider options", () => {
  it("refuses a bad address, a missing token, a bad mount or renewAt, each saying which", () => {
    const make = (o: Partial<VaultProviderOptions>) => () => createVaultSecretProvider({ address: "http://v", token: "t", ...o });
    expect(make({ address: "not a url" })).toThrow(new TypeError("vault address must be an absolute URL"));
    expect(make({ address: "ftp://v" })).toThrow(new TypeError("vault address must be http(s)"));
    expect(make({ token: "" })).toThrow(new TypeError("vault provider needs a token"));
    for (const mount of ["", "/", "//", "a/../b", "./x", "x/."]) expect(make({ mount }), mount).toThrow(new TypeError("invalid vault mount"));
    for (const renewAt of [0, 1, -0.5, 1.5, Number.NaN]) {
      expect(make({ renewAt }), String(renewAt)).toThrow(new TypeError("vault renewAt must be between 0 and 1"));
    }
    expect(make({ renewAt: 0.01 })).not.toThrow();
    expect(make({ renewAt: 0.99 })).not.toThrow();
    expect(make({ address: "https://v" })).not.toThrow();
  });

  it("sends the token, Accept and namespace headers to <address>/v1/<mount>/data/<encoded path>", async () => {
    const { provider, seen } = vault(() => kv({ value: "v" }), { address: "https://vault.test:8200/base//", mount: "/kv/team/", namespace: "ns1" });
    expect(text((await provider.get("a b/c#value")).value)).toBe("v");
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      method: "GET",
      url: "https://vault.test:8200/base/v1/kv/team/data/a%20b/c",
      headers: { "X-Vault-Token": "hvs.t1", Accept: "application/json", "X-Vault-Namespace": "ns1" },
      body: undefined,
    });
    expect(Object.keys(seen[0]!.headers).sort()).toEqual(["Accept", "X-Vault-Namespace", "X-Vault-Token"]);
    expect(seen[0]!.signal).toBeInstanceOf(AbortSignal);
    expect(provider.locate!("app/db#password")).toBe("Vault path kv/team/data/app/db at https://vault.test:8200/base");
  });

  it("defaults to the `secret` mount and sends no namespace header without one", async () => {
    const { provider, seen } = vault(() => kv({ value: "v" }));
    await provider.get("x");
    expect(seen[0]!.url).toBe("http://vault.test:8200/v1/secret/data/x");
    expect(Object.keys(seen[0]!.headers).sort()).toEqual(["Accept", "X-Vault-Token"]);
  });
});

describe("vault reads", () => {
  it("accepts versions of 1 to 10 digits without a leading zero, asking for ?version=N", async () => {
    const { provider, seen } = vault(() => kv({ value: "v" }, { version: 7 }));
    for (const version of ["1", "9", "1234567890"]) await provider.get("p", { version });
    expect(seen.map((s) => s.url.split("?")[1])).toEqual(["version=1", "version=9", "version=1234567890"]);
    await provider.get("p", { version: "" });
    expect(seen.at(-1)!.url).toBe("http://vault.test:8200/v1/secret/data/p");
    for (const version of ["0", "01", "12345678901", "1a", "a1", "-1", " 1"]) {
      expect(await failure(provider.get("p", { version })), version).toMatchObject({
        code: Code.InvalidArgument,
        rawMessage: 'invalid secret name "p": vault versions are positive integers',
      });
    }
    expect(seen).toHaveLength(4);
  });

  it("refuses empty and dot path segments before any request", async () => {
    const { provider, seen } = vault(() => kv({ value: "v" }));
    for (const name of ["a//b", "a/./b", "a/../b", "./a", "a/", ".."]) {
      expect(await failure(provider.get(name)), name).toMatchObject({
        code: Code.InvalidArgument,
        rawMessage: `invalid secret name ${JSON.stringify(name)}: path segments must be non-empty and not '.' or '..'`,
      });
    }
    expect(await failure(provider.versions("a//b"))).toMatchObject({ code: Code.InvalidArgument });
    expect(seen).toHaveLength(0);
  });

  it("reads the version from the metadata, or none without metadata", async () => {
    let answer: [number, unknown] = kv({ value: "v" }, { version: 12 });
    const { provider } = vault(() => answer);
    expect(await provider.get("p")).toMatchObject({ name: "p", version: "12" });
    answer = [200, { data: { data: { value: "v" } } }];
    expect(await provider.get("p")).toMatchObject({ version: "" });
    answer = [200, { data: { data: { value: "v" }, metadata: { version: 0 } } }];
    expect(await provider.get("p")).toMatchObject({ version: "0" });
  });

  it("a 404 or an answer without data is NotFound, saying whether the version was deleted, destroyed or absent", async () => {
    let answer: [number, unknown?] = [404];
    const { provider } = vault(() => answer);
    expect(await failure(provider.get("p"))).toMatchObject({ code: Code.NotFound, rawMessage: 'secret "p": not found', secretName: "p" });
    expect((await failure(provider.get("p", { version: "4" }))).rawMessage).toBe('secret "p": version 4 not found');
    answer = [404, { data: { data: null, metadata: { version: 2, destroyed: true, deletion_time: "" } } }];
    expect((await failure(provider.get("p"))).rawMessage).toBe('secret "p": version 2 destroyed');
    answer = [404, { data: { data: null, metadata: { version: 2, destroyed: false, deletion_time: "2026-01-01T00:00:00Z" } } }];
    expect((await failure(provider.get("p"))).rawMessage).toBe('secret "p": version 2 deleted');
    answer = [404, { data: { data: null, metadata: { version: 2, destroyed: "yes", deletion_time: "" } } }];
    expect((await failure(provider.get("p"))).rawMessage).toBe('secret "p": not found');
    // 200 without a data document: no secret there either.
    for (const body of [{}, { data: null }, { data: { data: "text" } }, { data: { data: [1] } }, { data: [] }, null, "x"]) {
      answer = [200, body];
      expect(await failure(provider.get("p")), JSON.stringify(body)).toMatchObject({ code: Code.NotFound });
    }
    // A 404 that still carries data is absent all the same.
    answer = [404, { data: { data: { value: "v" }, metadata: { version: 1 } } }];
    expect((await failure(provider.get("p"))).rawMessage).toBe('secret "p": not found');
  });

  it("maps statuses: 403 denied, 429/5xx unavailable, 400 invalid, anything else unexpected; bodies never copied", async () => {
    let status = 403;
    const { provider } = vault(() => [status, { errors: ["echo sk-leaked-body"] }]);
    const check = async (expected: { code: Code; rawMessage: string }) => {
      const error = await failure(provider.get("p"));
      expect(error, String(status)).toMatchObject(expected);
      expect(error.message).not.toContain("sk-leaked-body");
    };
    await check({ code: Code.PermissionDenied, rawMessage: 'secret "p": vault denied access' });
    for (status of [429, 500, 503, 599]) await check({ code: Code.Unavailable, rawMessage: `secret "p": vault unavailable: status ${status}` });
    status = 400;
    await check({ code: Code.InvalidArgument, rawMessage: 'secret "p": vault rejected the request (400)' });
    for (status of [201, 401, 409, 428, 499]) {
      await check({ code: Code.Unavailable, rawMessage: `secret "p": vault unavailable: unexpected status ${status}` });
    }
  });

  it("without a secret name (listing), refusals say only the status", async () => {
    let status = 403;
    const { provider } = vault(() => [status]);
    expect(await failure(provider.list())).toMatchObject({ code: Code.PermissionDenied, rawMessage: "vault denied access (403)" });
    status = 400;
    expect(await failure(provider.list())).toMatchObject({ code: Code.InvalidArgument, rawMessage: "vault rejected the request (400)" });
    status = 502;
    expect(await failure(provider.list())).toMatchObject({ code: Code.Unavailable, rawMessage: "vault unavailable: status 502" });
  });

  it("a transport failure is Unavailable: its own deadline says so, anything else cannot connect", async () => {
    let error: Error = new DOMException("timed out", "TimeoutError");
    const { provider } = vault(() => error, { timeoutMs: 1234 });
    expect(await failure(provider.get("p"))).toMatchObject({ code: Code.Unavailable, rawMessage: 'secret "p": vault unavailable: no answer within 1234 ms' });
    error = new DOMException("aborted", "AbortError");
    expect((await failure(provider.get("p"))).rawMessage).toBe('secret "p": vault unavailable: no answer within 1234 ms');
    error = new TypeError("fetch failed");
    expect((await failure(provider.get("p"))).rawMessage).toBe('secret "p": vault unavailable: cannot connect');
  });

  it("a body that is no JSON is no data", async () => {
    const { provider } = vault(() => new Response("not json", { status: 200 }));
    expect(await failure(provider.get("p"))).toMatchObject({ code: Code.NotFound });
  });
});

describe("vault listing and versions", () => {
  it("walks folders depth-first with encoded prefixes, skipping odd keys, up to 8 levels", async () => {
    const { provider, seen } = vault(({ url }) => {
      const path = decodeURIComponent(new URL(url).pathname.replace("/v1/secret/metadata/", ""));
      if (path === "") return [200, { data: { keys: ["b", "a dir/", "", 7, null, "deep/", "missing/"] } }];
      if (path === "a dir/") return [200, { data: { keys: ["x"] } }];
      if (path === "missing/") return [404];
      if (path.startsWith("deep/")) return [200, { data: { keys: ["leaf", "deep/"] } }];
      return [200, {}];
    });
    const names = await provider.list();
    expect(seen[0]!.url).toBe("http://vault.test:8200/v1/secret/metadata/?list=true");
    expect(seen[1]!.url).toBe("http://vault.test:8200/v1/secret/metadata/a%20dir/?list=true");
    const deep = [...Array(8)].map((_, i) => `${"deep/".repeat(i + 1)}leaf`);
    expect(names).toEqual(["a dir/x", "b", ...deep].sort());
    expect(seen.every((s) => s.method === "GET")).toBe(true);
  });

  it("an empty mount lists nothing, and a listing stops at 10 000 names", async () => {
    let empty = true;
    const { provider } = vault(({ url }) => {
      if (empty) return [404];
      const path = new URL(url).pathname.replace("/v1/secret/metadata/", "");
      if (path === "") return [200, { data: { keys: ["f1/", "f2/"] } }];
      return [200, { data: { keys: [...Array(6000)].map((_, i) => `k${i}`) } }];
    });
    expect(await provider.list()).toEqual([]);
    empty = false;
    const names = await provider.list();
    expect(names).toHaveLength(10_000);
    expect(names.filter((n) => n.startsWith("f2/"))).toHaveLength(4000);
  });

  it("versions: from metadata, numerically sorted, with defaults for missing fields", async () => {
    let answer: [number, unknown?] = [
      200,
      {
        data: {
          current_version: 10,
          versions: {
            "10": { created_time: "t10", deletion_time: "", destroyed: false },
            "9": { created_time: "t9", deletion_time: "2026-01-01", destroyed: false },
            "2": { destroyed: true },
            "3": "not an object",
            "4": { destroyed: "true" },
          },
        },
      },
    ];
    const { provider, seen } = vault(() => answer);
    expect(await provider.versions("app/db")).toEqual({
      currentVersion: 10,
      versions: [
        { version: 2, createdTime: "", deleted: false, destroyed: true },
        { version: 4, createdTime: "", deleted: false, destroyed: false },
        { version: 9, createdTime: "t9", deleted: true, destroyed: false },
        { version: 10, createdTime: "t10", deleted: false, destroyed: false },
      ],
    });
    expect(seen[0]!.url).toBe("http://vault.test:8200/v1/secret/metadata/app/db");
    answer = [200, { data: {} }];
    expect(await provider.versions("p")).toEqual({ currentVersion: 0, versions: [] });
    answer = [200, { data: { versions: [] } }];
    expect(await provider.versions("p")).toEqual({ currentVersion: 0, versions: [] });
    answer = [404];
    expect(await failure(provider.versions("p"))).toMatchObject({ code: Code.NotFound, rawMessage: 'secret "p": not found', secretName: "p" });
    answer = [200, {}];
    expect(await failure(provider.versions("p"))).toMatchObject({ code: Code.NotFound });
    answer = [403];
    expect(await failure(provider.versions("p"))).toMatchObject({ code: Code.PermissionDenied, secretName: "p" });
  });

  it("health: ok on 200, says sealed, uninitialised or unhealthy by status, unreachable when it cannot connect", async () => {
    let answer: [number, unknown?] | Error = [200, {}];
    const { provider, seen } = vault(() => answer);
    expect(await provider.health()).toEqual({ ok: true });
    expect(seen[0]!.url).toBe("http://vault.test:8200/v1/sys/health?standbyok=true&perfstandbyok=true");
    expect(seen[0]!.signal).toBeInstanceOf(AbortSignal);
    answer = [503];
    expect(await provider.health()).toEqual({ ok: false, detail: "vault sealed (503)" });
    answer = [501];
    expect(await provider.health()).toEqual({ ok: false, detail: "vault not initialised (501)" });
    answer = [429];
    expect(await provider.health()).toEqual({ ok: false, detail: "vault unhealthy (429)" });
    answer = new TypeError("fetch failed");
    expect(await provider.health()).toEqual({ ok: false, detail: "vault unreachable" });
  });
});

describe("vault token renewal (fake timers)", () => {
  const lookup = (ttl: unknown, renewable: unknown = true): [number, unknown] => [200, { data: { ttl, renewable } }];
  const renewed = (auth: Record<string, unknown> | null): [number, unknown] => [200, { auth }];

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
  });

  /** A provider whose lookup and renew answers the test sets; reads answer a value. */
  function renewing(options: Partial<VaultProviderOptions> = {}) {
    const state = {
      lookup: lookup(30) as [number, unknown?] | Error,
      renew: renewed({ client_token: "hvs.t2", lease_duration: 60, renewable: true }) as [number, unknown?] | Error,
    };
    const { logger, lines } = recordingLogger();
    const stub = stubFetch(({ url }) => {
      if (url.endsWith("/auth/token/lookup-self")) return state.lookup;
      if (url.endsWith("/auth/token/renew-self")) return state.renew;
      return kv({ value: "v" });
    });
    const provider = createVaultSecretProvider({ address: "http://vault.test", token: "hvs.t1", fetch: stub.fetch, logger, ...options });
    const count = (what: string) => stub.seen.filter((s) => s.url.endsWith(what)).length;
    return { provider, seen: stub.seen, state, lines, count };
  }

  it("looks the token up once, renews at 2/3 of its TTL with the new token, and follows the new TTL", async () => {
    const { provider, seen, count, lines } = renewing();
    await provider.get("k");
    await vi.advanceTimersByTimeAsync(0);
    expect(count("lookup-self")).toBe(1);
    expect(seen.find((s) => s.url.endsWith("lookup-self"))).toMatchObject({ method: "GET", url: "http://vault.test/v1/auth/token/lookup-self" });
    await provider.get("k");
    expect(count("lookup-self")).toBe(1);
    await vi.advanceTimersByTimeAsync(19_999);
    expect(count("renew-self")).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(count("renew-self")).toBe(1);
    const renew = seen.find((s) => s.url.endsWith("renew-self"))!;
    expect(renew).toMatchObject({
      method: "POST",
      url: "http://vault.test/v1/auth/token/renew-self",
      body: "{}",
      headers: { "X-Vault-Token": "hvs.t1", "Content-Type": "application/json", Accept: "application/json" },
    });
    expect(lines).toContainEqual(["debug", { backend: "vault", ttlSeconds: 60 }, "vault token renewed"]);
    await provider.get("k");
    expect(seen.at(-1)!.headers["X-Vault-Token"]).toBe("hvs.t2");
    await vi.advanceTimersByTimeAsync(39_999);
    expect(count("renew-self")).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(count("renew-self")).toBe(2);
    expect(seen.at(-1)!.headers["X-Vault-Token"]).toBe("hvs.t2");
    await provider.close!();
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(count("renew-self")).toBe(2);
  });

  it("honours renewAt, and waits at least 250 ms", async () => {
    const half = renewing({ renewAt: 0.5 });
    await half.provider.get("k");
    await vi.advanceTimersByTimeAsync(14_999);
    expect(half.count("renew-self")).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(half.count("renew-self")).toBe(1);
    await half.provider.close!();

    const short = renewing();
    short.state.lookup = lookup(0.3);
    await short.provider.get("k");
    await vi.advanceTimersByTimeAsync(249);
    expect(short.count("renew-self")).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(short.count("renew-self")).toBe(1);
    await short.provider.close!();
  });

  it("does not renew a non-renewable token, one without a TTL, nor when renewal is off", async () => {
    for (const answer of [lookup(30, false), lookup(30, "true"), lookup(0), lookup("x"), [200, {}] as [number, unknown], [200, { data: [] }] as [number, unknown]]) {
      const { provider, count } = renewing();
      const r = renewing();
      r.state.lookup = answer;
      await r.provider.get("k");
      await vi.advanceTimersByTimeAsync(3_600_000);
      expect(r.count("renew-self"), JSON.stringify(answer)).toBe(0);
      expect(r.count("lookup-self")).toBe(1);
      await r.provider.close!();
      expect(count("lookup-self")).toBe(0);
      await provider.close!();
    }
    const off = renewing({ renewToken: false });
    await off.provider.get("k");
    await off.provider.list();
    await off.provider.versions("k");
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(off.count("lookup-self")).toBe(0);
  });

  it("list and versions start renewal too", async () => {
    const a = renewing();
    await a.provider.list();
    expect(a.count("lookup-self")).toBe(1);
    await a.provider.close!();
    const b = renewing();
    await b.provider.versions("k");
    expect(b.count("lookup-self")).toBe(1);
    await b.provider.close!();
  });

  it("stops after a renewal that says the token is no longer renewable, or that carries no auth", async () => {
    const a = renewing();
    a.state.renew = renewed({ client_token: "hvs.t2", lease_duration: 60, renewable: false });
    await a.provider.get("k");
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(a.count("renew-self")).toBe(1);
    await a.provider.close!();

    const b = renewing();
    b.state.renew = renewed(null);
    await b.provider.get("k");
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(b.count("renew-self")).toBe(1);
    await b.provider.get("k");
    expect(b.seen.at(-1)!.headers["X-Vault-Token"]).toBe("hvs.t1");
    await b.provider.close!();
  });

  it("keeps the token when a renewal answers an empty or non-string one", async () => {
    for (const client_token of ["", 42]) {
      const r = renewing();
      r.state.renew = renewed({ client_token, lease_duration: 60, renewable: true });
      await r.provider.get("k");
      await vi.advanceTimersByTimeAsync(20_000);
      await r.provider.get("k");
      expect(r.seen.at(-1)!.headers["X-Vault-Token"]).toBe("hvs.t1");
      await r.provider.close!();
    }
  });

  it("retries a failed renewal within what is left of the TTL (at most 5 s, at least 250 ms), logging the code", async () => {
    const { provider, state, count, lines } = renewing();
    state.renew = [503];
    await provider.get("k");
    await vi.advanceTimersByTimeAsync(20_000);
    expect(count("renew-self")).toBe(1);
    expect(lines).toContainEqual(["warn", { backend: "vault", code: Code.Unavailable }, "vault token renewal failed; retrying"]);
    /** Advances to 1 ms before the next renewal (none yet), then to it: renewal number `n` fires exactly then. */
    const renewsAfter = async (ms: number, n: number) => {
      await vi.advanceTimersByTimeAsync(ms - 1);
      expect(count("renew-self")).toBe(n - 1);
      await vi.advanceTimersByTimeAsync(1);
      expect(count("renew-self")).toBe(n);
    };
    // 30 s TTL: 10 s left, half of it capped at 5 s.
    await renewsAfter(5_000, 2);
    // Then 10 s × 1/3 left: half of 3.33 s (timers count whole milliseconds).
    await renewsAfter(1_666, 3);
    // 3.33 s × 1/3 → 555 ms, then 185 ms, raised to 250 ms.
    await renewsAfter(555, 4);
    await renewsAfter(250, 5);
    state.renew = renewed({ client_token: "hvs.t3", lease_duration: 30, renewable: true });
    await vi.advanceTimersByTimeAsync(250);
    expect(count("renew-self")).toBe(6);
    await provider.get("k");
    await provider.close!();
  });

  it("a close after a failed renewal cancels its retry", async () => {
    const { provider, state, count } = renewing();
    await provider.get("k");
    state.renew = new TypeError("fetch failed");
    await vi.advanceTimersByTimeAsync(20_000);
    expect(count("renew-self")).toBe(1);
    await provider.close!();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(count("renew-self")).toBe(1);
  });

  it("a close during a renewal's request stops the retry it would schedule", async () => {
    let fail!: (error: Error) => void;
    const { logger } = recordingLogger();
    const stub = stubFetch(() => kv({ value: "v" }));
    let renewCalls = 0;
    const fetch = (async (input: string | URL, init?: RequestInit) => {
      const url = String(input);
      if (url.endsWith("lookup-self")) return new Response(JSON.stringify({ data: { ttl: 30, renewable: true } }), { status: 200 });
      if (url.endsWith("renew-self")) {
        renewCalls++;
        return new Promise<Response>((_, reject) => (fail = reject));
      }
      return stub.fetch(input, init);
    }) as typeof globalThis.fetch;
    const provider = createVaultSecretProvider({ address: "http://vault.test", token: "t", fetch, logger });
    await provider.get("k");
    await vi.advanceTimersByTimeAsync(20_000);
    expect(renewCalls).toBe(1);
    await provider.close!();
    fail(new TypeError("fetch failed"));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(renewCalls).toBe(1);
  });

  it("a lookup outage is retried with the next request; a lookup refusal ends renewal for good", async () => {
    const outage = renewing();
    outage.state.lookup = [503];
    await outage.provider.get("k");
    await vi.advanceTimersByTimeAsync(0);
    expect(outage.lines).toContainEqual(["warn", { backend: "vault", code: Code.Unavailable }, "vault token lookup failed; will retry"]);
    outage.state.lookup = lookup(30);
    await outage.provider.get("k");
    await vi.advanceTimersByTimeAsync(0);
    expect(outage.count("lookup-self")).toBe(2);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(outage.count("renew-self")).toBe(1);
    await outage.provider.close!();

    const refused = renewing();
    refused.state.lookup = [403];
    await refused.provider.get("k");
    await vi.advanceTimersByTimeAsync(0);
    expect(refused.lines).toContainEqual(["warn", { backend: "vault", code: Code.PermissionDenied }, "vault token lookup refused; no renewal"]);
    await refused.provider.get("k");
    await refused.provider.get("k");
    expect(refused.count("lookup-self")).toBe(1);
    await refused.provider.close!();
  });

  it("a lookup outage ending after close does not restart renewal", async () => {
    let fail!: (error: Error) => void;
    let lookups = 0;
    const fetch = (async (input: string | URL) => {
      if (String(input).endsWith("lookup-self")) {
        lookups++;
        return new Promise<Response>((_, reject) => (fail = reject));
      }
      return new Response(JSON.stringify({ data: { data: { value: "v" } } }), { status: 200 });
    }) as typeof globalThis.fetch;
    const provider = createVaultSecretProvider({ address: "http://vault.test", token: "t", fetch });
    await provider.get("k");
    await provider.close!();
    fail(new TypeError("fetch failed"));
    await vi.advanceTimersByTimeAsync(0);
    await provider.get("k");
    expect(lookups).toBe(1);
  });
});

describe("vault renewal timers against the loopback Vault", () => {
  let fake: FakeVault;
  beforeEach(async () => {
    fake = await startFakeVault();
  });
  afterEach(async () => {
    await fake.close();
  });

  it("a pending renewal does not keep the process alive", async () => {
    fake.addToken("hvs.long", { ttlSeconds: 3600, renewable: true });
    fake.write("k", { value: "v" });
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const provider = createVaultSecretProvider({ address: fake.url, token: "hvs.long" });
    await provider.get("k");
    for (let i = 0; i < 100 && fake.calls.get("lookup") !== 1; i++) await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(fake.calls.get("lookup")).toBe(1);
    // Closing clears the renewal timer: were it referenced, the count of referenced timers would drop.
    const withRenewal = timers();
    await provider.close!();
    expect(timers()).toBe(withRenewal);
  });
});

describe("vault provider, more edges", () => {
  it("trims every leading and trailing slash of the mount, and allows dots inside a segment", async () => {
    const { provider, seen } = vault(() => kv({ value: "v" }), { mount: "//team.kv//" });
    await provider.get("x");
    expect(seen[0]!.url).toBe("http://vault.test:8200/v1/team.kv/data/x");
    expect(provider.kind).toBe("vault");
  });

  it("a 204 read is no data (NotFound), and getMany reads through the provider", async () => {
    let answer: [number, unknown?] = [204];
    const { provider, seen } = vault(() => answer);
    expect(await failure(provider.get("p"))).toMatchObject({ code: Code.NotFound, rawMessage: 'secret "p": not found' });
    answer = kv({ value: "v" });
    const many = await provider.getMany([{ name: "a", version: "2", optional: false }]);
    expect(many.map((s) => text(s.value))).toEqual(["v"]);
    expect(seen.at(-1)!.url).toBe("http://vault.test:8200/v1/secret/data/a?version=2");
  });

  it("lists nothing from a 404, whatever its body, nor from an answer without a key list", async () => {
    let answer: [number, unknown?] | Response = [404, { data: { keys: ["x"] } }];
    const { provider } = vault(() => answer);
    expect(await provider.list()).toEqual([]);
    for (const body of [{ data: { keys: "x" } }, { data: "x" }, {}]) {
      answer = [200, body];
      expect(await provider.list(), JSON.stringify(body)).toEqual([]);
    }
    answer = new Response("", { status: 200 });
    expect(await provider.list()).toEqual([]);
  });

  it("versions of a 404 are NotFound whatever its body", async () => {
    const { provider } = vault(() => [404, { data: { current_version: 1, versions: { "1": { created_time: "t" } } } }]);
    expect(await failure(provider.versions("p"))).toMatchObject({ code: Code.NotFound });
  });
});

describe("vault token renewal, more edges (fake timers)", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
  });

  /** Without a logger; lookup and renew answers as the test sets them. */
  function bare(state: { lookup: () => Response | Promise<Response>; renew: () => Response | Promise<Response> }) {
    const counts = { lookup: 0, renew: 0 };
    const fetch = (async (input: string | URL) => {
      const url = String(input);
      if (url.endsWith("lookup-self")) return (counts.lookup++, state.lookup());
      if (url.endsWith("renew-self")) return (counts.renew++, state.renew());
      return new Response(JSON.stringify({ data: { data: { value: "v" } } }), { status: 200 });
    }) as typeof globalThis.fetch;
    return { fetch, counts };
  }
  const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status });

  it("without a logger: a renewal schedules the next at 2/3 of the new TTL, a failed one retries", async () => {
    const state = {
      lookup: () => json({ data: { ttl: 30, renewable: true } }),
      renew: () => json({ auth: { client_token: "t2", lease_duration: 60, renewable: true } }),
    };
    const { fetch, counts } = bare(state);
    const provider = createVaultSecretProvider({ address: "http://vault.test", token: "t", fetch });
    await provider.get("k");
    await vi.advanceTimersByTimeAsync(20_000);
    expect(counts.renew).toBe(1);
    await vi.advanceTimersByTimeAsync(39_999);
    expect(counts.renew).toBe(1);
    state.renew = () => json({}, 503);
    await vi.advanceTimersByTimeAsync(1);
    expect(counts.renew).toBe(2);
    // 60 s TTL: 20 s left, half of it capped at 5 s.
    await vi.advanceTimersByTimeAsync(5_000);
    expect(counts.renew).toBe(3);
    await provider.close!();
  });

  it("a renewal answering no body is not retried; a lookup answering no body is no refusal", async () => {
    const { logger, lines } = recordingLogger();
    const state = { lookup: () => json({ data: { ttl: 30, renewable: true } }), renew: () => new Response(null, { status: 204 }) };
    const { fetch, counts } = bare(state);
    const provider = createVaultSecretProvider({ address: "http://vault.test", token: "t", fetch, logger });
    await provider.get("k");
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(counts.renew).toBe(1);
    expect(lines.filter((l) => l[0] === "warn")).toEqual([]);
    await provider.close!();

    const empty = bare({ lookup: () => new Response(null, { status: 204 }), renew: state.renew });
    const other = recordingLogger();
    const quiet = createVaultSecretProvider({ address: "http://vault.test", token: "t", fetch: empty.fetch, logger: other.logger });
    await quiet.get("k");
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(other.lines).toEqual([]);
    expect(empty.counts.renew).toBe(0);
    await quiet.close!();
  });

  it("a lookup that answers after close schedules no renewal", async () => {
    let answer!: (response: Response) => void;
    const state = {
      lookup: () => new Promise<Response>((resolve) => (answer = resolve)),
      renew: () => json({ auth: { client_token: "t2", lease_duration: 60, renewable: true } }),
    };
    const { fetch, counts } = bare(state);
    const provider = createVaultSecretProvider({ address: "http://vault.test", token: "t", fetch });
    await provider.get("k");
    await provider.close!();
    answer(json({ data: { ttl: 30, renewable: true } }));
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(counts.renew).toBe(0);
  });
});
