import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A loopback stand-in for HashiCorp Vault that answers the documented KV v2
 * shapes: `GET /v1/<mount>/data/<path>?version=N`, `GET /v1/<mount>/metadata/<path>`
 * (and `?list=true`), token lookup-self / renew-self and sys/health.
 * A real Vault cannot run here; this reproduces what the provider relies on.
 */
interface StoredVersion {
  data: Record<string, unknown>;
  created_time: string;
  deletion_time: string;
  destroyed: boolean;
}

interface TokenState {
  expiresAt: number;
  ttlSeconds: number;
  renewable: boolean;
}

export interface FakeVault {
  url: string;
  /** Adds a new version of a path; returns its number. */
  write(path: string, data: Record<string, unknown>): number;
  deleteVersion(path: string, version: number): void;
  destroyVersion(path: string, version: number): void;
  addToken(token: string, opts?: { ttlSeconds?: number; renewable?: boolean }): void;
  /** Paths whose reads answer 403. */
  deny(path: string): void;
  /** "ok"; "down" → 503 everywhere; "throttle" → 429; "hang" → never answers; "sealed" → 503 with health 503. */
  mode: "ok" | "down" | "throttle" | "hang" | "sealed";
  /** Request counts by route label, e.g. "data:app/db", "renew", "lookup". */
  calls: Map<string, number>;
  /** Namespace header of the last request. */
  lastNamespace: string | undefined;
  close(): Promise<void>;
}

export async function startFakeVault(opts: { mount?: string } = {}): Promise<FakeVault> {
  const mount = opts.mount ?? "secret";
  const secrets = new Map<string, StoredVersion[]>();
  const tokens = new Map<string, TokenState>();
  const denied = new Set<string>();
  const hanging = new Set<ServerResponse>();

  const count = (label: string) => fake.calls.set(label, (fake.calls.get(label) ?? 0) + 1);
  const send = (res: ServerResponse, status: number, body?: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };
  const envelope = (data: unknown, extra: Record<string, unknown> = {}) => ({
    request_id: "00000000-0000-0000-0000-000000000000",
    lease_id: "",
    renewable: false,
    lease_duration: 0,
    data,
    wrap_info: null,
    warnings: null,
    auth: null,
    ...extra,
  });
  const metadataOf = (versions: StoredVersion[], version: number) => ({
    created_time: versions[version - 1]!.created_time,
    custom_metadata: null,
    deletion_time: versions[version - 1]!.deletion_time,
    destroyed: versions[version - 1]!.destroyed,
    version,
  });

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://vault");
    fake.lastNamespace = req.headers["x-vault-namespace"] as string | undefined;
    if (fake.mode === "hang") {
      hanging.add(res);
      return;
    }
    if (url.pathname === "/v1/sys/health") {
      count("health");
      return send(res, fake.mode === "ok" || fake.mode === "throttle" ? 200 : 503, { initialized: true, sealed: fake.mode === "sealed" });
    }
    if (fake.mode === "down" || fake.mode === "sealed") return send(res, 503, { errors: ["Vault is sealed"] });
    if (fake.mode === "throttle") return send(res, 429, { errors: ["request path: rate limit quota exceeded"] });

    const token = tokens.get(String(req.headers["x-vault-token"] ?? ""));
    if (!token || token.expiresAt < Date.now()) return send(res, 403, { errors: ["permission denied"] });

    if (url.pathname === "/v1/auth/token/lookup-self" && req.method === "GET") {
      count("lookup");
      const ttl = Math.max(0, Math.round((token.expiresAt - Date.now()) / 1000));
      return send(res, 200, envelope({ ttl, renewable: token.renewable, policies: ["default"] }));
    }
    if (url.pathname === "/v1/auth/token/renew-self" && req.method === "POST") {
      count("renew");
      if (!token.renewable) return send(res, 400, { errors: ["lease is not renewable"] });
      token.expiresAt = Date.now() + token.ttlSeconds * 1000;
      return send(res, 200, envelope(null, {
        auth: { client_token: req.headers["x-vault-token"], lease_duration: token.ttlSeconds, renewable: true, policies: ["default"] },
      }));
    }

    const dataPrefix = `/v1/${mount}/data/`;
    const metaPrefix = `/v1/${mount}/metadata/`;
    if (req.method === "GET" && url.pathname.startsWith(dataPrefix)) {
      const path = decodeURIComponent(url.pathname.slice(dataPrefix.length));
      count(`data:${path}`);
      if (denied.has(path)) return send(res, 403, { errors: ["1 error occurred:\n\t* permission denied\n\n"] });
      const versions = secrets.get(path);
      if (!versions) return send(res, 404, { errors: [] });
      const asked = url.searchParams.get("version");
      const version = asked && asked !== "0" ? Number(asked) : versions.length;
      const stored = versions[version - 1];
      if (!stored) return send(res, 404, { errors: [] });
      const metadata = metadataOf(versions, version);
      // KV v2: a deleted or destroyed version is a 404 that still carries its metadata.
      if (stored.deletion_time || stored.destroyed) return send(res, 404, envelope({ data: null, metadata }));
      return send(res, 200, envelope({ data: stored.data, metadata }));
    }
    if (req.method === "GET" && (url.pathname.startsWith(metaPrefix) || url.pathname === metaPrefix.slice(0, -1))) {
      const path = decodeURIComponent(url.pathname.slice(metaPrefix.length)).replace(/\/$/, "");
      if (url.searchParams.get("list") === "true") {
        count(`list:${path}`);
        const prefix = path ? `${path}/` : "";
        const keys = new Set<string>();
        for (const name of secrets.keys()) {
          if (!name.startsWith(prefix)) continue;
          const rest = name.slice(prefix.length);
          const slash = rest.indexOf("/");
          keys.add(slash < 0 ? rest : rest.slice(0, slash + 1));
        }
        if (keys.size === 0) return send(res, 404, { errors: [] });
        return send(res, 200, envelope({ keys: [...keys].sort() }));
      }
      count(`metadata:${path}`);
      const versions = secrets.get(path);
      if (!versions) return send(res, 404, { errors: [] });
      const all: Record<string, unknown> = {};
      versions.forEach((v, i) => {
        all[String(i + 1)] = { created_time: v.created_time, deletion_time: v.deletion_time, destroyed: v.destroyed };
      });
      return send(res, 200, envelope({
        cas_required: false,
        created_time: versions[0]!.created_time,
        current_version: versions.length,
        max_versions: 0,
        oldest_version: 0,
        updated_time: versions.at(-1)!.created_time,
        versions: all,
      }));
    }
    return send(res, 404, { errors: [] });
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  const fake: FakeVault = {
    url: `http://127.0.0.1:${port}`,
    mode: "ok",
    calls: new Map(),
    lastNamespace: undefined,
    write(path, data) {
      const versions = secrets.get(path) ?? [];
      versions.push({ data, created_time: new Date().toISOString(), deletion_time: "", destroyed: false });
      secrets.set(path, versions);
      return versions.length;
    },
    deleteVersion(path, version) {
      secrets.get(path)![version - 1]!.deletion_time = new Date().toISOString();
    },
    destroyVersion(path, version) {
      const v = secrets.get(path)![version - 1]!;
      v.destroyed = true;
      v.data = {};
    },
    addToken(token, o = {}) {
      const ttlSeconds = o.ttlSeconds ?? 3600;
      tokens.set(token, { ttlSeconds, renewable: o.renewable ?? true, expiresAt: Date.now() + ttlSeconds * 1000 });
    },
    deny(path) {
      denied.add(path);
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}
