import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { HandshakeRequestSchema, HandshakeService, type HandshakeResponse } from "../../gen/plugboard/v1/handshake_pb.js";
import { CORE_PROTOCOL_VERSION } from "../protocol/constants.js";
import type { ResolvedPluginOptions } from "./options.js";
import { retryCleanup } from "./cleanup-retry.js";

export interface RuntimeState {
  runtimeId: string;
  token: string;
  /** Local clock time the token expires (from its lifetime, so host clock skew does not matter). */
  expiresAtMs: number;
  signingKey: Buffer;
  hostCapabilities: string[];
  appProtocolVersion: string;
  hostId: string;
}

export interface Session {
  readonly state: RuntimeState | undefined;
  start(): Promise<RuntimeState>;
  /** The token to send now; waits while a refresh or re-handshake is switching tokens. */
  token(): Promise<string>;
  /**
   * The host refused `usedToken` (Unauthenticated). Refresh it, or when the host no longer knows
   * this runtime (restarted, expired, revoked), handshake again and run `onNewRuntime`.
   * Resolves once a working token is in place; rejects when the host cannot be reached.
   */
  recover(usedToken: string): Promise<void>;
  /** Revokes the runtime, retrying while the host answers Unavailable until `deadline` (ms since epoch). */
  stop(deadline?: number): Promise<void>;
}

export interface SessionDeps {
  options: ResolvedPluginOptions;
  /** Handshake client without credentials (the token is passed per call). */
  handshake: Client<typeof HandshakeService>;
  baseUrl: () => string;
  /** Re-register after a re-handshake gave the plugin a new runtime. */
  onNewRuntime: (state: RuntimeState) => Promise<void>;
  now?: () => number;
}

/** A hung host must not hold a token switch (and every call waiting on it) forever. */
const CALL_TIMEOUT_MS = 10_000;

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

/**
 * The plugin's runtime identity: handshake, token refresh at `refreshAt` of its lifetime, and
 * re-handshake when the host forgot the runtime. The host revokes the old token when it issues a
 * new one, so token switches are serialised: calls starting during a switch wait for the new token.
 */
export function createSession(deps: SessionDeps): Session {
  const { options } = deps;
  const log = options.logger;
  const now = deps.now ?? Date.now;
  let state: RuntimeState | undefined;
  let switching: Promise<void> | undefined;
  let recovering: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let lastVerifiedAt = 0;
  let launchSecret = options.launchSecret;

  const serialise = (work: () => Promise<void>): Promise<void> => {
    const p = work().finally(() => {
      if (switching === p) switching = undefined;
    });
    switching = p;
    return p;
  };

  async function handshake(): Promise<RuntimeState> {
    const req = create(HandshakeRequestSchema, {
      magicCookieKey: options.magicCookie.key,
      magicCookieValue: options.magicCookie.value,
      coreProtocolVersion: CORE_PROTOCOL_VERSION,
      appProtocolRanges: options.appProtocolRanges,
      pluginName: options.name,
      pluginVersion: options.version,
      provides: options.provides.map((p) => ({ type: p.service.typeName, version: p.version ?? options.version })),
      requires: options.requires.map((r) => ({ type: r.service.typeName, versionRange: r.versionRange ?? "", optional: r.optional ?? false })),
      baseUrl: deps.baseUrl(),
      launchSecret,
      enrolmentToken: options.enrolmentToken,
      secrets: options.secrets.map((s) => ({ name: s.name, version: s.version ?? "", optional: s.optional ?? false })),
      capabilities: options.capabilities.map((c) => c.typeName),
    });
    const sentAt = now();
    const jwt = options.handshakeJwt ? await options.handshakeJwt() : undefined;
    const res = await deps.handshake.handshake(req, { timeoutMs: CALL_TIMEOUT_MS, ...(jwt ? bearer(jwt) : {}) });
    // A launch secret is single-use: a later re-handshake goes without it.
    launchSecret = "";
    return toState(res, sentAt);
  }

  function toState(res: HandshakeResponse, sentAt: number): RuntimeState {
    return {
      runtimeId: res.runtimeId,
      token: res.runtimeToken,
      expiresAtMs: sentAt + lifetimeMs(res.tokenExpiresAt ? timestampMs(res.tokenExpiresAt) : undefined),
      signingKey: Buffer.from(res.callerSigningKey),
      hostCapabilities: [...res.hostCapabilities],
      appProtocolVersion: res.appProtocolVersion,
      hostId: res.hostId,
    };
  }

  /** Lifetime as the host states it, measured against the host's clock at about the same moment. */
  function lifetimeMs(expiresAt: number | undefined): number {
    return expiresAt === undefined ? 60_000 : Math.max(1_000, expiresAt - now());
  }

  function schedule(delayMs: number) {
    if (timer) clearTimeout(timer);
    if (stopped) return;
    timer = setTimeout(() => void refreshOnTimer(), Math.max(0, delayMs));
    timer.unref();
  }

  function scheduleRefresh() {
    if (!state) return;
    schedule((state.expiresAtMs - now()) * options.refreshAt);
  }

  async function refreshOnTimer() {
    if (stopped || !state) return;
    try {
      await recover(state.token, true);
    } catch (e) {
      // Host unreachable: try again soon, well before the token runs out.
      const remaining = state ? state.expiresAtMs - now() : 0;
      const retryIn = Math.min(2_000, Math.max(200, remaining / 4));
      log.warn({ err: ConnectError.from(e).rawMessage, retryIn }, "token refresh failed; retrying");
      schedule(retryIn);
    }
  }

  async function refresh(current: RuntimeState): Promise<void> {
    const sentAt = now();
    const res = await deps.handshake.refreshToken({}, { ...bearer(current.token), timeoutMs: CALL_TIMEOUT_MS });
    const expiresAtMs = sentAt + lifetimeMs(res.tokenExpiresAt ? timestampMs(res.tokenExpiresAt) : undefined);
    state = { ...current, token: res.runtimeToken, expiresAtMs };
    log.debug({ runtimeId: current.runtimeId }, "runtime token refreshed");
  }

  async function rehandshake(): Promise<void> {
    const previous = state?.runtimeId;
    await serialise(async () => {
      state = await handshake();
    });
    log.warn({ previous, runtimeId: state!.runtimeId }, "host no longer knew this runtime; handshook again");
    await deps.onNewRuntime(state!);
  }

  function recover(usedToken: string, scheduled = false): Promise<void> {
    if (stopped) return Promise.reject(new ConnectError("plugin stopped", Code.Unavailable));
    if (recovering) return recovering;
    if (state && state.token !== usedToken) return switching ?? Promise.resolve();
    // The host accepted this very token a moment ago: the refusal came from elsewhere (a provider
    // refusing the call), and refreshing again would only add load.
    if (!scheduled && now() - lastVerifiedAt < 1_000) return Promise.resolve();
    const p = (async () => {
      try {
        const current = state;
        if (!current) throw new ConnectError("plugin not started", Code.FailedPrecondition);
        await serialise(() => refresh(current));
        lastVerifiedAt = now();
      } catch (e) {
        if (ConnectError.from(e).code !== Code.Unauthenticated) throw e;
        await rehandshake();
      }
      scheduleRefresh();
    })().finally(() => {
      recovering = undefined;
    });
    recovering = p;
    return p;
  }

  return {
    get state() {
      return state;
    },
    async start() {
      state = await handshake();
      scheduleRefresh();
      return state;
    },
    async token() {
      while (switching) await switching.catch(() => undefined);
      if (!state) throw new ConnectError("plugin not started", Code.FailedPrecondition);
      return state.token;
    },
    recover: (usedToken) => recover(usedToken),
    async stop(deadline = now() + 2_000) {
      stopped = true;
      if (timer) clearTimeout(timer);
      await (recovering ?? Promise.resolve()).catch(() => undefined);
      if (!state) return;
      const token = state.token;
      try {
        await retryCleanup((timeoutMs) => deps.handshake.revoke({ reason: "plugin stopped" }, { ...bearer(token), timeoutMs }), deadline, now);
      } catch (e) {
        log.warn({ err: ConnectError.from(e).rawMessage }, "revoking own runtime failed");
      }
      state = undefined;
    },
  };
}
