/**
 * The SDK session against a scripted HandshakeService on loopback: what the handshake sends, the
 * state it keeps, when it refreshes and when it handshakes again, and how it revokes. The clock is
 * the session's injected `now`, fixed unless a test moves it.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { LogService } from "../../../gen/hostlog/v1/hostlog_pb.js";
import { KVService } from "../../../gen/kv/v1/kv_pb.js";
import { BrokerService } from "../../../gen/plugboard/v1/broker_pb.js";
import {
  HandshakeResponseSchema,
  HandshakeService,
  RefreshTokenResponseSchema,
  type HandshakeRequest,
} from "../../../gen/plugboard/v1/handshake_pb.js";
import type { Logger } from "../../../src/log/logger.js";
import { CORE_PROTOCOL_VERSION } from "../../../src/protocol/constants.js";
import { provide, requireService } from "../../../src/sdk/index.js";
import { resolvePluginOptions, type PluginOptions } from "../../../src/sdk/options.js";
import { createSession, type RuntimeState, type Session } from "../../../src/sdk/session.js";
import { serveLoopback, type Loopback } from "./loopback.js";

const T0 = 1_800_000_000_000;

interface Script {
  /** Token lifetime the host states, ms from the session's clock; undefined: no expiry sent. */
  lifetimeMs: number | undefined;
  /** Answers RefreshToken (default: a new token living lifetimeMs). */
  refresh?: (n: number) => Promise<void> | void;
  revoke?: () => void;
}

class FakeHost {
  readonly handshakes: { req: HandshakeRequest; authorization: string | null; timeout: string | null }[] = [];
  readonly refreshes: { authorization: string | null; timeout: string | null }[] = [];
  readonly revokes: { authorization: string | null; reason: string; timeout: string | null }[] = [];
  script: Script = { lifetimeMs: 30_000 };
  constructor(private readonly clock: () => number) {}

  private expiry() {
    const l = this.script.lifetimeMs;
    return l === undefined ? undefined : timestampFromMs(this.clock() + l);
  }

  impl() {
    const header = (ctx: HandlerContext, name: string) => ctx.requestHeader.get(name);
    return {
      handshake: (req: HandshakeRequest, ctx: HandlerContext) => {
        this.handshakes.push({ req, authorization: header(ctx, "authorization"), timeout: header(ctx, "connect-timeout-ms") });
        const n = this.handshakes.length;
        const expires = this.expiry();
        return create(HandshakeResponseSchema, {
          runtimeId: `rt_${n}`,
          runtimeToken: `pbrt_handshake${n}`,
          ...(expires ? { tokenExpiresAt: expires } : {}),
          callerSigningKey: new Uint8Array(32).fill(n),
          hostCapabilities: ["plugboard.v1.SecretsService"],
          appProtocolVersion: "1.4.0",
          hostId: "host-a",
        });
      },
      refreshToken: async (_req: unknown, ctx: HandlerContext) => {
        this.refreshes.push({ authorization: header(ctx, "authorization"), timeout: header(ctx, "connect-timeout-ms") });
        const n = this.refreshes.length;
        await this.script.refresh?.(n);
        const expires = this.expiry();
        return create(RefreshTokenResponseSchema, { runtimeToken: `pbrt_refresh${n}`, ...(expires ? { tokenExpiresAt: expires } : {}) });
      },
      revoke: (req: { reason: string }, ctx: HandlerContext) => {
        this.revokes.push({ authorization: header(ctx, "authorization"), reason: req.reason, timeout: header(ctx, "connect-timeout-ms") });
        this.script.revoke?.();
        return {};
      },
    };
  }
}

/** A logger recording each line's level, message and fields. */
function recordingLogger() {
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const at = (level: string) => (fields: unknown, msg?: unknown) =>
    lines.push(typeof fields === "string" ? { level, msg: fields, fields: {} } : { level, msg: String(msg), fields: fields as Record<string, unknown> });
  const logger = { info: at("info"), warn: at("warn"), error: at("error"), debug: at("debug") } as unknown as Logger;
  return { logger, lines };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(extra: Partial<PluginOptions> = {}) {
  let clock = T0;
  const { logger, lines } = recordingLogger();
  const fake = new FakeHost(() => clock);
  const host: Loopback<typeof HandshakeService> = await serveLoopback(HandshakeService, fake.impl());
  cleanups.push(() => host.close());
  const options = resolvePluginOptions(
    {
      hostUrl: host.url,
      name: "session-test",
      version: "1.2.3",
      magicCookie: { key: "COOKIE_K", value: "COOKIE_V" },
      appProtocolRanges: ["^1.4.0"],
      logger,
      shutdownSignals: false,
      ...extra,
    },
    {},
  );
  const newRuntimes: RuntimeState[] = [];
  const session: Session = createSession({
    options,
    handshake: host.client(),
    baseUrl: () => "http://127.0.0.1:9/",
    onNewRuntime: async (s) => {
      newRuntimes.push(s);
    },
    now: () => clock,
  });
  cleanups.push(() => session.stop());
  return {
    fake,
    session,
    newRuntimes,
    lines,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

/** Makes the fake host's RefreshToken wait: `inRefresh` settles once a refresh arrived, `release()` lets it answer. */
function holdRefreshes(fake: FakeHost) {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const inRefresh = new Promise<void>((r) => (entered = r));
  fake.script = {
    lifetimeMs: 30_000,
    refresh: async () => {
      entered();
      await gate;
    },
  };
  return { inRefresh, release };
}

const codeOf = (p: Promise<unknown>) => p.then(() => "ok" as const, (e: unknown) => ConnectError.from(e).code);

describe("session: handshake", () => {
  it("sends the plugin's declarations and credentials, with defaults filled, and keeps what the host answered", async () => {
    const { fake, session } = await setup({
      provides: [provide(KVService, {}), provide(LogService, {}, { version: "2.0.0" })],
      requires: [requireService(BrokerService), requireService(KVService, { versionRange: "^1.0.0", optional: true })],
      secrets: [{ name: "db" }, { name: "api", version: "3", optional: true }],
      capabilities: [BrokerService],
      launchSecret: "launch-1",
      enrolmentToken: "pbet_x",
    });
    const state = await session.start();
    expect(fake.handshakes).toHaveLength(1);
    const { req, authorization, timeout } = fake.handshakes[0]!;
    expect(authorization).toBeNull();
    expect(timeout).toBe("10000");
    expect(req).toMatchObject({
      magicCookieKey: "COOKIE_K",
      magicCookieValue: "COOKIE_V",
      coreProtocolVersion: CORE_PROTOCOL_VERSION,
      appProtocolRanges: ["^1.4.0"],
      pluginName: "session-test",
      pluginVersion: "1.2.3",
      baseUrl: "http://127.0.0.1:9/",
      launchSecret: "launch-1",
      enrolmentToken: "pbet_x",
      capabilities: [BrokerService.typeName],
    });
    expect(req.provides.map((p) => [p.type, p.version])).toEqual([
      [KVService.typeName, "1.2.3"],
      [LogService.typeName, "2.0.0"],
    ]);
    expect(req.requires.map((r) => [r.type, r.versionRange, r.optional])).toEqual([
      [BrokerService.typeName, "", false],
      [KVService.typeName, "^1.0.0", true],
    ]);
    expect(req.secrets.map((s) => [s.name, s.version, s.optional])).toEqual([
      ["db", "", false],
      ["api", "3", true],
    ]);
    expect(state).toEqual({
      runtimeId: "rt_1",
      token: "pbrt_handshake1",
      expiresAtMs: T0 + 30_000,
      signingKey: Buffer.alloc(32, 1),
      hostCapabilities: ["plugboard.v1.SecretsService"],
      appProtocolVersion: "1.4.0",
      hostId: "host-a",
    });
    expect(session.state).toBe(state);
    expect(await session.token()).toBe("pbrt_handshake1");
  });

  it("sends a handshake JWT as a bearer token, fetched for each handshake", async () => {
    let n = 0;
    const { fake, session } = await setup({ handshakeJwt: async () => `jwt-${++n}` });
    await session.start();
    expect(fake.handshakes[0]!.authorization).toBe("Bearer jwt-1");
  });

  it("a lifetime below a second counts as one second, and a token without expiry lives a minute", async () => {
    const short = await setup();
    short.fake.script = { lifetimeMs: 10 };
    expect((await short.session.start()).expiresAtMs).toBe(T0 + 1_000);
    const none = await setup();
    none.fake.script = { lifetimeMs: undefined };
    expect((await none.session.start()).expiresAtMs).toBe(T0 + 60_000);
  });

  it("has no token before it started", async () => {
    const { session } = await setup();
    expect(await session.token().catch((e: unknown) => ConnectError.from(e))).toMatchObject({ code: Code.FailedPrecondition, rawMessage: "plugin not started" });
    expect(session.state).toBeUndefined();
    expect(await session.recover("pbrt_none").catch((e: unknown) => ConnectError.from(e))).toMatchObject({ code: Code.FailedPrecondition, rawMessage: "plugin not started" });
  });
});

describe("session: recover", () => {
  it("refreshes the refused token with it as bearer, keeps the runtime, and the new expiry", async () => {
    const { fake, session, advance, newRuntimes, lines } = await setup();
    await session.start();
    advance(5_000);
    await session.recover("pbrt_handshake1");
    expect(lines).toContainEqual({ level: "debug", msg: "runtime token refreshed", fields: { runtimeId: "rt_1" } });
    expect(fake.refreshes).toEqual([{ authorization: "Bearer pbrt_handshake1", timeout: "10000" }]);
    expect(session.state).toMatchObject({ runtimeId: "rt_1", token: "pbrt_refresh1", expiresAtMs: T0 + 5_000 + 30_000, hostId: "host-a" });
    expect(await session.token()).toBe("pbrt_refresh1");
    expect(newRuntimes).toEqual([]);
    expect(fake.handshakes).toHaveLength(1);
  });

  it("does nothing for a token already replaced", async () => {
    const { fake, session, advance } = await setup();
    await session.start();
    advance(5_000);
    await session.recover("pbrt_handshake1");
    advance(5_000);
    const late = session.recover("pbrt_handshake1"); // the old one, refused late
    expect(late).toBeInstanceOf(Promise);
    await late;
    expect(fake.refreshes).toHaveLength(1);
  });

  it("a token the host accepted less than a second ago is not refreshed again; a second later it is", async () => {
    const { fake, session, advance } = await setup();
    await session.start();
    advance(5_000);
    await session.recover("pbrt_handshake1");
    advance(999);
    await session.recover("pbrt_refresh1"); // refused by someone else than the host
    expect(fake.refreshes).toHaveLength(1);
    advance(1);
    await session.recover("pbrt_refresh1");
    expect(fake.refreshes).toHaveLength(2);
    expect(await session.token()).toBe("pbrt_refresh2");
  });

  it("concurrent recoveries share one refresh, and calls asking for the token wait for it", async () => {
    const { fake, session, advance } = await setup();
    await session.start();
    advance(5_000);
    const { inRefresh, release } = holdRefreshes(fake);
    const a = session.recover("pbrt_handshake1");
    const b = session.recover("pbrt_handshake1");
    await inRefresh;
    const token = session.token();
    release();
    await Promise.all([a, b]);
    expect(await token).toBe("pbrt_refresh1");
    expect(fake.refreshes).toHaveLength(1);
  });

  it("handshakes again, without the used launch secret, when the host no longer knows the runtime", async () => {
    const { fake, session, advance, newRuntimes, lines } = await setup({ launchSecret: "once" });
    await session.start();
    advance(5_000);
    fake.script = {
      lifetimeMs: 30_000,
      refresh: () => {
        throw new ConnectError("unknown runtime", Code.Unauthenticated);
      },
    };
    await session.recover("pbrt_handshake1");
    expect(fake.handshakes.map((h) => h.req.launchSecret)).toEqual(["once", ""]);
    expect(session.state).toMatchObject({ runtimeId: "rt_2", token: "pbrt_handshake2", signingKey: Buffer.alloc(32, 2) });
    expect(newRuntimes.map((s) => s.runtimeId)).toEqual(["rt_2"]);
    expect(lines).toContainEqual({ level: "warn", msg: "host no longer knew this runtime; handshook again", fields: { previous: "rt_1", runtimeId: "rt_2" } });
    expect(await session.token()).toBe("pbrt_handshake2");
  });

  it("passes any other refusal on, and keeps the runtime", async () => {
    const { fake, session, advance, newRuntimes } = await setup();
    await session.start();
    advance(5_000);
    fake.script = {
      lifetimeMs: 30_000,
      refresh: () => {
        throw new ConnectError("store down", Code.Unavailable);
      },
    };
    expect(await codeOf(session.recover("pbrt_handshake1"))).toBe(Code.Unavailable);
    expect(fake.handshakes).toHaveLength(1);
    expect(newRuntimes).toEqual([]);
    expect(await session.token()).toBe("pbrt_handshake1");
    // Not counted as verified: the next refusal refreshes again.
    fake.script = { lifetimeMs: 30_000 };
    await session.recover("pbrt_handshake1");
    expect(await session.token()).toBe("pbrt_refresh2");
  });
});

describe("session: refresh timer", () => {
  it("refreshes at refreshAt of the token's lifetime, and again after a failed attempt", async () => {
    const { fake, session, lines } = await setup({ refreshAt: 0.01 });
    fake.script = {
      lifetimeMs: 1_000, // a refresh due after 10 ms
      refresh: (n) => {
        if (n === 1) throw new ConnectError("host restarting", Code.Unavailable);
        fake.script.lifetimeMs = 600_000; // then not again during the test
      },
    };
    await session.start();
    await expect.poll(() => fake.refreshes.length, { timeout: 10_000 }).toBe(2);
    await expect.poll(() => session.state?.token, { timeout: 10_000 }).toBe("pbrt_refresh2");
    expect(fake.handshakes).toHaveLength(1);
    // Retried at a quarter of the time left (1 s on the session's clock), within [200 ms, 2 s].
    expect(lines).toContainEqual({ level: "warn", msg: "token refresh failed; retrying", fields: { err: "host restarting", retryIn: 250 } });
  });

  it("a timer's refresh goes ahead even within a second of the last one", async () => {
    const { fake, session } = await setup({ refreshAt: 0.01 });
    fake.script = {
      lifetimeMs: 1_000,
      refresh: (n) => {
        if (n === 2) fake.script.lifetimeMs = 600_000;
      },
    };
    await session.start();
    await expect.poll(() => fake.refreshes.length, { timeout: 10_000 }).toBe(2);
  });

  it("a recovery replaces the pending refresh timer", async () => {
    const { fake, session, advance } = await setup({ refreshAt: 0.02 });
    fake.script = { lifetimeMs: 1_000 }; // the first token's refresh is due after 20 ms
    await session.start();
    fake.script = { lifetimeMs: 600_000 };
    advance(5_000);
    await session.recover("pbrt_handshake1");
    // The first token's timer would have fired long before this.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(fake.refreshes).toHaveLength(1);
  });
});

describe("session: stop", () => {
  it("revokes its runtime with its token, then holds no state; recover is refused", async () => {
    const { fake, session } = await setup();
    await session.start();
    await session.stop();
    expect(fake.revokes).toHaveLength(1);
    expect(fake.revokes[0]).toMatchObject({ authorization: "Bearer pbrt_handshake1", reason: "plugin stopped" });
    expect(session.state).toBeUndefined();
    const refused = await session.recover("pbrt_handshake1").catch((e: unknown) => ConnectError.from(e));
    expect(refused).toBeInstanceOf(ConnectError);
    expect((refused as ConnectError).code).toBe(Code.Unavailable);
    expect((refused as ConnectError).rawMessage).toBe("plugin stopped");
    await session.stop();
    expect(fake.revokes).toHaveLength(1);
  });

  it("a stop before start revokes nothing; a failed revoke still ends the session", async () => {
    const idle = await setup();
    await idle.session.stop();
    expect(idle.fake.revokes).toHaveLength(0);

    const { fake, session, lines } = await setup();
    await session.start();
    fake.script = {
      lifetimeMs: 30_000,
      revoke: () => {
        throw new ConnectError("no", Code.PermissionDenied);
      },
    };
    await session.stop();
    expect(fake.revokes).toHaveLength(1);
    expect(session.state).toBeUndefined();
    expect(lines).toContainEqual({ level: "warn", msg: "revoking own runtime failed", fields: { err: "no" } });
  });

  it("retries a revoke the host answers Unavailable, within two seconds by default", async () => {
    const { fake, session } = await setup();
    await session.start();
    fake.script = {
      lifetimeMs: 30_000,
      revoke: () => {
        if (fake.revokes.length === 1) throw new ConnectError("store down", Code.Unavailable);
      },
    };
    await session.stop();
    expect(fake.revokes).toHaveLength(2);
  });

  it("waits for a recovery in progress, then revokes the token it produced", async () => {
    const { fake, session, advance } = await setup();
    await session.start();
    advance(5_000);
    const { inRefresh, release } = holdRefreshes(fake);
    const recovering = session.recover("pbrt_handshake1");
    await inRefresh;
    const stopping = session.stop();
    release();
    await Promise.all([recovering, stopping]);
    expect(fake.revokes.map((r) => r.authorization)).toEqual(["Bearer pbrt_refresh1"]);
  });
});
