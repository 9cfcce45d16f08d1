import { requestIdOf } from "../audit/request-id.js";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { SecretsService, type GetSecretsRequest, type WatchSecretsRequest } from "../../gen/plugboard/v1/secrets_pb.js";
import { identityKey, type Identity } from "../identity/identity.js";
import { provenName } from "../identity/name-proof.js";
import type { Logger } from "../log/index.js";
import type { RuntimeRecord, SecretNeed, Store } from "../store/types.js";
import { SecretError } from "./errors.js";
import { MAX_SECRET_NAME_LENGTH } from "./fields.js";
import { MAX_SECRETS_PER_CALL } from "./many.js";
import type { SecretProvider, SecretValue } from "./types.js";
import { resolveSecretWatch, secretChanges, type SecretWatchOptions } from "./watch.js";

/** Whether a plugin may read a secret it declared; default: every declared secret. */
export type SecretPolicy = (pluginName: string, secretName: string) => boolean;

/**
 * Whether this caller may read a secret by name: RBAC's `secret:<name>` when RBAC is configured.
 * Judged for every name the call would return, whether asked for explicitly or through an empty list.
 */
export type SecretAuthorizer = (caller: Identity, secretName: string) => boolean;

/** What the service reports of each call: names only, never values. */
export interface SecretsAuditEvent {
  /** A GetSecrets call, or one version of each secret handed out by WatchSecrets. */
  type: "secrets.get" | "secrets.watch";
  subject: string;
  runtimeId?: string;
  pluginName?: string;
  /** Names asked for ([] = all declared). */
  requested: string[];
  /** Names returned (WatchSecrets: `name@version`, so each version read is on record). */
  granted: string[];
  outcome: "ok" | "denied" | "error";
  /** Connect code name on failure. */
  code?: string;
  /** The call's request id. */
  requestId?: string | undefined;
  /** The secret the failure concerns. */
  secretName?: string;
}

export interface SecretsServiceOptions {
  provider: SecretProvider;
  store: Store;
  policy?: SecretPolicy;
  authorize?: SecretAuthorizer;
  audit?: (event: SecretsAuditEvent) => void;
  logger?: Logger;
  /** WatchSecrets refresh interval and jitter. */
  watch?: SecretWatchOptions;
}

/**
 * plugboard.v1.SecretsService: hands a runtime the secrets it declared at
 * handshake and the policy allows. Mount with `router.service(SecretsService, impl)`
 * behind the identity interceptor.
 */
export function createSecretsService(options: SecretsServiceOptions): ServiceImpl<typeof SecretsService> {
  const { provider, store } = options;
  const scopes: SecretPolicy = options.policy ?? (() => true);
  /** Secret scopes are keyed by plugin name: a name that was only claimed reads nothing. */
  const policy = (runtime: RuntimeRecord, secretName: string): boolean => {
    const name = provenName(runtime);
    return name !== undefined && scopes(name, secretName);
  };
  const authorize: SecretAuthorizer = options.authorize ?? (() => true);

  const audit = (event: SecretsAuditEvent) => {
    try {
      options.audit?.(event);
    } catch {
      // An audit sink failing must not turn into a leak or a different answer.
    }
  };

  const callerRuntime = async (context: HandlerContext): Promise<{ identity: Identity; runtime: RuntimeRecord }> => {
    const identity = context.values.get(identityKey);
    if (!identity) throw new ConnectError("no caller identity", Code.Unauthenticated);
    if (identity.kind !== "runtime" || !identity.runtimeId) {
      throw new ConnectError("only plugin runtimes may read secrets", Code.PermissionDenied);
    }
    const runtime = await store.getRuntime(identity.runtimeId);
    if (!runtime) throw new ConnectError("runtime is not known or has ended", Code.Unauthenticated);
    return { identity, runtime };
  };

  /** Why this caller may not read `name`, or undefined when it may (RBAC, then host policy). */
  const refusal = (caller: Identity, runtime: RuntimeRecord, name: string): string | undefined => {
    if (!authorize(caller, name)) return `permission secret:${name} not granted`;
    if (!policy(runtime, name)) return "host policy does not allow it";
    return undefined;
  };

  /**
   * Which declared needs this request asks for. An empty list means every declared name and goes
   * through the same checks as an explicit list; only then is a refused optional secret left out.
   */
  const selectNeeds = (caller: Identity, runtime: RuntimeRecord, names: readonly string[]): SecretNeed[] => {
    if (provenName(runtime) === undefined)
      throw new ConnectError("secrets are scoped to proven plugin names; this runtime's name is unproven", Code.PermissionDenied);
    if (names.length > MAX_SECRETS_PER_CALL) {
      throw new ConnectError(`at most ${MAX_SECRETS_PER_CALL} names per call`, Code.InvalidArgument);
    }
    const declared = new Map(runtime.secrets.map((need) => [need.name, need]));
    const all = names.length === 0;
    const needs: SecretNeed[] = [];
    for (const name of all ? declared.keys() : new Set(names)) {
      if (name.length === 0 || name.length > MAX_SECRET_NAME_LENGTH) {
        throw new ConnectError("secret names must be 1 to 512 characters", Code.InvalidArgument);
      }
      const need = declared.get(name);
      if (!need) throw denied(name, "not declared at handshake");
      const why = refusal(caller, runtime, name);
      if (why === undefined) needs.push(need);
      else if (!(all && need.optional)) throw denied(name, why);
    }
    return needs;
  };

  const fetchNeeds = async (needs: SecretNeed[]): Promise<SecretValue[]> => {
    try {
      return await provider.getMany(needs);
    } catch (error) {
      if (!(error instanceof ConnectError)) {
        throw new ConnectError("secret provider failed", Code.Internal);
      }
      const name = error instanceof SecretError ? error.secretName : undefined;
      const named = name === undefined ? "" : ` "${name}"`;
      if (error.code === Code.NotFound) {
        throw withSecretName(new ConnectError(`required secret${named} is not available`, Code.FailedPrecondition), name);
      }
      if (error.code === Code.Unavailable || error.code === Code.DeadlineExceeded) {
        throw withSecretName(new ConnectError(`secret provider unavailable${name ? ` for${named}` : ""}`, Code.Unavailable), name);
      }
      // The host's own credentials were refused or the request was malformed: not the caller's fault.
      throw withSecretName(new ConnectError(`secret provider could not serve${named}`, Code.Internal), name);
    }
  };

  const watchOptions = resolveSecretWatch(options.watch);

  return {
    async *watchSecrets(request: WatchSecretsRequest, context: HandlerContext) {
      const { identity, runtime } = await callerRuntime(context);
      const needs = selectNeeds(identity, runtime, request.names);
      const base = {
        type: "secrets.watch" as const,
        subject: identity.subject,
        runtimeId: runtime.runtimeId,
        requestId: requestIdOf(context.values),
        pluginName: runtime.pluginName,
        requested: [...request.names],
      };
      const changes = secretChanges({
        readAll: () => fetchNeeds(needs),
        // Asked again every round: a secret RBAC or the policy stops allowing is removed from the watcher.
        allowed: () => needs.filter((need) => refusal(identity, runtime, need.name) === undefined),
        read: (need) => provider.get(need.name, need.version ? { version: need.version } : {}),
        intervalMs: watchOptions.refreshIntervalMs,
        jitter: watchOptions.jitter,
        signal: context.signal,
      });
      for await (const change of changes) {
        const fresh = change.secrets.filter((s) => !s.stale);
        if (fresh.length > 0) audit({ ...base, granted: fresh.map((s) => `${s.name}@${s.version}`), outcome: "ok" });
        yield {
          secrets: change.secrets.map((s) => ({ name: s.name, version: s.version, value: s.value, stale: s.stale })),
          removed: change.removed,
          initial: change.initial,
        };
      }
    },

    async getSecrets(request: GetSecretsRequest, context: HandlerContext) {
      const identity = context.values.get(identityKey);
      const base = { type: "secrets.get" as const, subject: identity?.subject ?? "", requested: [...request.names], granted: [], requestId: requestIdOf(context.values) };
      let runtime: RuntimeRecord | undefined;
      try {
        const caller = await callerRuntime(context);
        runtime = caller.runtime;
        const needs = selectNeeds(caller.identity, runtime, request.names);
        const secrets = await fetchNeeds(needs);
        const granted = secrets.map((s) => s.name);
        audit({ ...base, runtimeId: runtime.runtimeId, pluginName: runtime.pluginName, granted, outcome: "ok" });
        options.logger?.debug({ runtimeId: runtime.runtimeId, secretNames: granted }, "secrets handed out");
        return { secrets: secrets.map((s) => ({ name: s.name, version: s.version, value: s.value })) };
      } catch (raw) {
        const error = raw instanceof ConnectError ? raw : new ConnectError("secrets request failed", Code.Internal);
        const secretName = (error as { secretName?: string }).secretName;
        const outcome = error.code === Code.PermissionDenied || error.code === Code.Unauthenticated ? "denied" : "error";
        audit({
          ...base,
          ...(runtime ? { runtimeId: runtime.runtimeId, pluginName: runtime.pluginName } : {}),
          outcome,
          code: Code[error.code],
          ...(secretName ? { secretName } : {}),
        });
        options.logger?.info(
          { runtimeId: runtime?.runtimeId, code: Code[error.code], secretName, reason: error.rawMessage },
          "secrets request refused",
        );
        throw error;
      }
    },
  };
}

function denied(name: string, why: string): ConnectError {
  return withSecretName(new ConnectError(`secret "${name}": ${why}`, Code.PermissionDenied), name);
}

function withSecretName(error: ConnectError, name: string | undefined): ConnectError {
  if (name !== undefined) Object.assign(error, { secretName: name });
  return error;
}
