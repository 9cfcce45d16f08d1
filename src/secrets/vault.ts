import { Code } from "@connectrpc/connect";
import type { Logger } from "../log/index.js";
import { SecretError, secretInvalidName, secretNotFound, secretPermissionDenied, secretUnavailable } from "./errors.js";
import { isPlainObject, pickFromDocument, splitField } from "./fields.js";
import { resolveMany } from "./many.js";
import type { GetSecretOptions, SecretProvider, SecretValue } from "./types.js";

export interface VaultProviderOptions {
  /** e.g. `https://vault.internal:8200` */
  address: string;
  token: string;
  /** Vault Enterprise namespace, sent as `X-Vault-Namespace`. */
  namespace?: string;
  /** KV v2 mount (default `secret`). */
  mount?: string;
  /** Per-request timeout (default 5000 ms). */
  timeoutMs?: number;
  /** Renew a renewable token before its TTL ends (default true). */
  renewToken?: boolean;
  /** Renew when this fraction of the TTL has passed (default 2/3). */
  renewAt?: number;
  /** For tests and custom agents; default global fetch. */
  fetch?: typeof fetch;
  logger?: Logger;
}

export interface VaultVersionInfo {
  version: number;
  createdTime: string;
  deleted: boolean;
  destroyed: boolean;
}

/** The Vault provider also lists the versions of one path. */
export interface VaultSecretProvider extends SecretProvider {
  versions(path: string): Promise<{ currentVersion: number; versions: VaultVersionInfo[] }>;
}

const BACKEND = "vault";
const MAX_LIST_ENTRIES = 10_000;
const MAX_LIST_DEPTH = 8;
const RENEW_RETRY_MS = 5_000;

/**
 * HashiCorp Vault KV v2 over fetch. A name is `path` or `path#field`: a field
 * selects one key of the secret's data; without one, a lone `value` key is the
 * value and anything else is the data as JSON. Versions are KV version numbers.
 */
export function createVaultSecretProvider(options: VaultProviderOptions): VaultSecretProvider {
  const address = validateAddress(options.address);
  if (!options.token) throw new TypeError("vault provider needs a token");
  const mount = (options.mount ?? "secret").replace(/^\/+|\/+$/g, "");
  if (!mount || mount.split("/").some((s) => s === "." || s === "..")) throw new TypeError("invalid vault mount");
  const timeoutMs = options.timeoutMs ?? 5000;
  const renewAt = options.renewAt ?? 2 / 3;
  if (!(renewAt > 0 && renewAt < 1)) throw new TypeError("vault renewAt must be between 0 and 1");
  const doFetch = options.fetch ?? fetch;
  let token = options.token;
  let renewal: "unstarted" | "started" | "closed" = options.renewToken === false ? "closed" : "unstarted";
  let renewTimer: NodeJS.Timeout | undefined;

  interface VaultResponse {
    status: number;
    body: unknown;
  }

  /** One HTTP call; maps transport failures and 403/429/5xx, hands 200/204/404 back. */
  const request = async (method: string, path: string, name: string | undefined, body?: unknown): Promise<VaultResponse> => {
    const headers: Record<string, string> = { "X-Vault-Token": token, Accept: "application/json" };
    if (options.namespace) headers["X-Vault-Namespace"] = options.namespace;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response: Response;
    try {
      response = await doFetch(`${address}/v1/${path}`, {
        method,
        headers,
        signal: AbortSignal.timeout(timeoutMs),
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
      throw secretUnavailable(name, BACKEND, timedOut ? `no answer within ${timeoutMs} ms` : "cannot connect");
    }
    const status = response.status;
    let parsed: unknown = undefined;
    try {
      parsed = status === 204 ? undefined : await response.json();
    } catch {
      parsed = undefined;
    }
    // Vault's error bodies are not copied into messages: only the status is.
    if (status === 403) {
      throw name === undefined
        ? new SecretError(`${BACKEND} denied access (403)`, Code.PermissionDenied)
        : secretPermissionDenied(name, BACKEND);
    }
    if (status === 429 || status >= 500) throw secretUnavailable(name, BACKEND, `status ${status}`);
    if (status === 400) {
      throw new SecretError(`${name ? `secret "${name}": ` : ""}${BACKEND} rejected the request (400)`, Code.InvalidArgument, name);
    }
    if (status !== 200 && status !== 204 && status !== 404) throw secretUnavailable(name, BACKEND, `unexpected status ${status}`);
    return { status, body: parsed };
  };

  // --- token renewal: lookup-self once, then renew-self at renewAt × TTL ---------------------
  const schedule = (ttlSeconds: number) => {
    if (renewal === "closed" || !(ttlSeconds > 0)) return;
    renewTimer = setTimeout(() => void renewNow(ttlSeconds), Math.max(250, ttlSeconds * 1000 * renewAt));
    renewTimer.unref();
  };
  const renewNow = async (previousTtl: number) => {
    try {
      const { body } = await request("POST", "auth/token/renew-self", undefined, {});
      const auth = isPlainObject(body) && isPlainObject(body["auth"]) ? body["auth"] : undefined;
      if (auth && typeof auth["client_token"] === "string" && auth["client_token"]) token = auth["client_token"];
      const ttl = Number(auth?.["lease_duration"]);
      options.logger?.debug({ backend: BACKEND, ttlSeconds: ttl }, "vault token renewed");
      if (auth?.["renewable"] !== false) schedule(ttl);
    } catch (error) {
      options.logger?.warn({ backend: BACKEND, code: (error as SecretError).code }, "vault token renewal failed; retrying");
      if (renewal === "closed") return;
      // Retry within what is left of the old TTL.
      const left = previousTtl * (1 - renewAt) * 1000;
      renewTimer = setTimeout(() => void renewNow(previousTtl * (1 - renewAt)), Math.min(RENEW_RETRY_MS, Math.max(250, left / 2)));
      renewTimer.unref();
    }
  };
  const startRenewal = () => {
    if (renewal !== "unstarted") return;
    renewal = "started";
    void request("GET", "auth/token/lookup-self", undefined)
      .then(({ body }) => {
        const data = isPlainObject(body) && isPlainObject(body["data"]) ? body["data"] : undefined;
        if (data?.["renewable"] === true) schedule(Number(data["ttl"]));
      })
      .catch((error: SecretError) => {
        // An outage: try again on the next request. A refusal (no lookup permission): give up.
        const transient = error.code === Code.Unavailable;
        if (transient && renewal === "started") renewal = "unstarted";
        options.logger?.warn({ backend: BACKEND, code: error.code }, transient ? "vault token lookup failed; will retry" : "vault token lookup refused; no renewal");
      });
  };

  const encodePath = (name: string, path: string): string => {
    const segments = path.split("/");
    if (segments.some((s) => !s || s === "." || s === "..")) {
      throw secretInvalidName(name, "path segments must be non-empty and not '.' or '..'");
    }
    return segments.map(encodeURIComponent).join("/");
  };

  const get = async (name: string, opts: GetSecretOptions = {}): Promise<SecretValue> => {
    const { path, field } = splitField(name);
    const encoded = encodePath(name, path);
    if (opts.version && !/^[1-9][0-9]{0,9}$/.test(opts.version)) {
      throw secretInvalidName(name, "vault versions are positive integers");
    }
    startRenewal();
    const query = opts.version ? `?version=${opts.version}` : "";
    const { status, body } = await request("GET", `${mount}/data/${encoded}${query}`, name);
    const data = isPlainObject(body) && isPlainObject(body["data"]) ? body["data"] : undefined;
    const metadata = data && isPlainObject(data["metadata"]) ? data["metadata"] : undefined;
    if (status === 404 || !data || !isPlainObject(data["data"])) {
      // KV v2 answers 404 *with metadata* for a deleted or destroyed version.
      if (metadata?.["destroyed"] === true) throw secretNotFound(name, `version ${String(metadata["version"])} destroyed`);
      if (metadata && metadata["deletion_time"]) throw secretNotFound(name, `version ${String(metadata["version"])} deleted`);
      throw secretNotFound(name, opts.version ? `version ${opts.version} not found` : "not found");
    }
    const version = metadata?.["version"] === undefined ? "" : String(metadata["version"]);
    return { name, version, value: pickFromDocument(name, data["data"], field) };
  };

  const list = async (): Promise<string[]> => {
    startRenewal();
    const out: string[] = [];
    const walk = async (prefix: string, depth: number) => {
      const path = prefix ? `${mount}/metadata/${encodePath(prefix, prefix.replace(/\/$/, ""))}/` : `${mount}/metadata/`;
      const { status, body } = await request("GET", `${path}?list=true`, undefined);
      if (status === 404) return;
      const data = isPlainObject(body) && isPlainObject(body["data"]) ? body["data"] : undefined;
      const keys = Array.isArray(data?.["keys"]) ? (data["keys"] as unknown[]) : [];
      for (const key of keys) {
        if (typeof key !== "string" || !key || out.length >= MAX_LIST_ENTRIES) continue;
        if (key.endsWith("/")) {
          if (depth < MAX_LIST_DEPTH) await walk(prefix + key, depth + 1);
        } else out.push(prefix + key);
      }
    };
    await walk("", 0);
    return out.sort();
  };

  return {
    kind: "vault",
    locate: (name) => `Vault path ${mount}/data/${name.split("#")[0]} at ${address}`,
    get,
    list,
    getMany: (needs) => resolveMany(get, needs),
    async versions(path) {
      const encoded = encodePath(path, path);
      startRenewal();
      const { status, body } = await request("GET", `${mount}/metadata/${encoded}`, path);
      const data = isPlainObject(body) && isPlainObject(body["data"]) ? body["data"] : undefined;
      if (status === 404 || !data) throw secretNotFound(path);
      const raw = isPlainObject(data["versions"]) ? data["versions"] : {};
      const versions = Object.entries(raw)
        .filter((entry): entry is [string, Record<string, unknown>] => isPlainObject(entry[1]))
        .map(([version, info]) => ({
          version: Number(version),
          createdTime: String(info["created_time"] ?? ""),
          deleted: Boolean(info["deletion_time"]),
          destroyed: info["destroyed"] === true,
        }))
        .sort((a, b) => a.version - b.version);
      return { currentVersion: Number(data["current_version"] ?? 0), versions };
    },
    async health() {
      try {
        // standbyok/perfstandbyok: a standby answers reads through the active node.
        const response = await doFetch(`${address}/v1/sys/health?standbyok=true&perfstandbyok=true`, {
          signal: AbortSignal.timeout(timeoutMs),
        });
        await response.body?.cancel();
        if (response.status === 200) return { ok: true };
        const why = response.status === 503 ? "sealed" : response.status === 501 ? "not initialised" : "unhealthy";
        return { ok: false, detail: `vault ${why} (${response.status})` };
      } catch {
        return { ok: false, detail: "vault unreachable" };
      }
    },
    async close() {
      renewal = "closed";
      if (renewTimer) clearTimeout(renewTimer);
    },
  };
}

function validateAddress(address: string): string {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new TypeError("vault address must be an absolute URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new TypeError("vault address must be http(s)");
  return url.origin + url.pathname.replace(/\/+$/, "");
}
