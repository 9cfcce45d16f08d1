/**
 * The SDK's capability grants against a scripted BrokerService on loopback: when a grant is fetched
 * and renewed (the clock is injected), and how a call refused for its grant is renewed and resent once.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type HandlerContext } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { GetResponseSchema, KVService } from "../../../gen/kv/v1/kv_pb.js";
import { BrokerService, RequestCapabilityResponseSchema } from "../../../gen/plugboard/v1/broker_pb.js";
import { HEADER_GRANT } from "../../../src/protocol/constants.js";
import { capabilityNotOffered, createGrantHolder, createGrantInterceptor, type GrantHolder } from "../../../src/sdk/capability.js";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { serveLoopback } from "./loopback.js";

const T0 = 1_800_000_000_000;
const CAP = "host.v1.LoggerService";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A broker whose grants live `lifetimeMs` (undefined: no expiry stated); `answer` may hold or fail a request. */
async function broker() {
  let clock = T0;
  const requests: string[] = [];
  const control = {
    lifetimeMs: 10_000 as number | undefined,
    answer: undefined as undefined | ((n: number) => Promise<void> | void),
  };
  const served = await serveLoopback(BrokerService, {
    requestCapability: async (req) => {
      requests.push(req.capabilityType);
      const n = requests.length;
      await control.answer?.(n);
      const l = control.lifetimeMs;
      return create(RequestCapabilityResponseSchema, {
        grantId: `gr_${n}`,
        grantToken: `pbgt_${n}`,
        ...(l === undefined ? {} : { expiresAt: timestampFromMs(clock + l) }),
      });
    },
  });
  cleanups.push(() => served.close());
  const holder: GrantHolder = createGrantHolder(served.client(), CAP, () => clock);
  return {
    holder,
    requests,
    control,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

describe("grant holder", () => {
  it("fetches a grant for its capability once, and again from 80 % of its lifetime", async () => {
    const { holder, requests, advance } = await broker();
    expect(await holder.current()).toBe("pbgt_1");
    expect(requests).toEqual([CAP]);
    advance(7_999);
    expect(await holder.current()).toBe("pbgt_1");
    expect(requests).toHaveLength(1);
    advance(1);
    expect(await holder.current()).toBe("pbgt_2");
    expect(requests).toHaveLength(2);
    // The next renewal counts from when the new grant was received.
    advance(7_999);
    expect(await holder.current()).toBe("pbgt_2");
    advance(1);
    expect(await holder.current()).toBe("pbgt_3");
  });

  it("a grant without a stated expiry, or one already past it, is fetched again for each call", async () => {
    const { holder, requests, control } = await broker();
    control.lifetimeMs = undefined;
    expect(await holder.current()).toBe("pbgt_1");
    expect(await holder.current()).toBe("pbgt_2");
    control.lifetimeMs = -5_000;
    expect(await holder.current()).toBe("pbgt_3");
    expect(await holder.current()).toBe("pbgt_4");
    expect(requests).toHaveLength(4);
  });

  it("concurrent callers share one request", async () => {
    const { holder, requests, control } = await broker();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    control.answer = () => gate;
    const a = holder.current();
    const b = holder.current();
    await expect.poll(() => requests.length, { timeout: 10_000 }).toBe(1);
    const c = holder.current();
    const renewed = holder.renew("");
    release();
    expect(await Promise.all([a, b, c])).toEqual(["pbgt_1", "pbgt_1", "pbgt_1"]);
    await renewed;
    expect(requests).toHaveLength(1);
    // A caller arriving while a renewal runs gets the renewed grant.
    let release2!: () => void;
    const gate2 = new Promise<void>((r) => (release2 = r));
    control.answer = () => gate2;
    const renewing = holder.renew("pbgt_1");
    await expect.poll(() => requests.length, { timeout: 10_000 }).toBe(2);
    const during = holder.current();
    release2();
    await renewing;
    expect(await during).toBe("pbgt_2");
    expect(requests).toHaveLength(2);
  });

  it("a refusal of another grant while a renewal runs waits for that renewal", async () => {
    const { holder, requests, control } = await broker();
    await holder.current();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    control.answer = () => gate;
    const renewing = holder.renew("pbgt_1");
    await expect.poll(() => requests.length, { timeout: 10_000 }).toBe(2);
    let settled = false;
    const other = holder.renew("pbgt_0").then(() => (settled = true));
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    release();
    await Promise.all([renewing, other]);
    expect(await holder.current()).toBe("pbgt_2");
  });

  it("renews only the grant in use: a refusal of an older grant fetches nothing", async () => {
    const { holder, requests } = await broker();
    await holder.current();
    await holder.renew("pbgt_0");
    expect(requests).toHaveLength(1);
    await holder.renew("pbgt_1");
    expect(requests).toHaveLength(2);
    expect(await holder.current()).toBe("pbgt_2");
  });

  it("a failed request fails its callers, and the next call asks again", async () => {
    const { holder, requests, control } = await broker();
    control.answer = (n) => {
      if (n === 1) throw new ConnectError("capability not granted", Code.PermissionDenied);
    };
    await expect(holder.current()).rejects.toMatchObject({ code: Code.PermissionDenied });
    expect(await holder.current()).toBe("pbgt_2");
    expect(requests).toHaveLength(2);
  });
});

describe("grant interceptor", () => {
  /** A KV service that accepts only grants in `accepted`; records the grant header of every call. */
  async function kvBehindGrants(accepted: Set<string>, refusal = Code.PermissionDenied) {
    const seen: (string | null)[] = [];
    const served = await serveLoopback(KVService, {
      get: (_req, ctx: HandlerContext) => {
        const grant = ctx.requestHeader.get(HEADER_GRANT);
        seen.push(grant);
        if (grant === null || !accepted.has(grant)) throw new ConnectError("grant refused", refusal);
        return create(GetResponseSchema, { found: true });
      },
    });
    cleanups.push(() => served.close());
    return { served, seen };
  }

  function kvClient(url: string, grant: GrantHolder) {
    const manager = new Http2SessionManager(url);
    cleanups.push(() => manager.abort());
    return createClient(
      KVService,
      createConnectTransport({ baseUrl: url, httpVersion: "2", sessionManager: manager, interceptors: [createGrantInterceptor(grant)] }),
    );
  }

  it("sends the grant; when it is refused, renews it and resends the call once", async () => {
    const { holder, requests } = await broker();
    const { served, seen } = await kvBehindGrants(new Set(["pbgt_1", "pbgt_2"]));
    const kv = kvClient(served.url, holder);
    expect((await kv.get({ key: "a" })).found).toBe(true);
    expect(seen).toEqual(["pbgt_1"]);

    const strict = await kvBehindGrants(new Set(["pbgt_2"]));
    const kv2 = kvClient(strict.served.url, holder);
    expect((await kv2.get({ key: "b" })).found).toBe(true);
    expect(strict.seen).toEqual(["pbgt_1", "pbgt_2"]);
    expect(requests).toHaveLength(2);
  });

  it("gives up after one renewal, and does not renew for other refusals", async () => {
    const { holder, requests } = await broker();
    const never = await kvBehindGrants(new Set());
    const kv = kvClient(never.served.url, holder);
    await expect(kv.get({ key: "a" })).rejects.toMatchObject({ code: Code.PermissionDenied });
    expect(never.seen).toEqual(["pbgt_1", "pbgt_2"]);
    expect(requests).toHaveLength(2);

    const other = await kvBehindGrants(new Set(), Code.Unauthenticated);
    const kv2 = kvClient(other.served.url, holder);
    await expect(kv2.get({ key: "a" })).rejects.toMatchObject({ code: Code.Unauthenticated });
    expect(other.seen).toEqual(["pbgt_2"]);
    expect(requests).toHaveLength(2);
  });

  it("a renewal that fails leaves the call's own refusal", async () => {
    const { holder, control } = await broker();
    const never = await kvBehindGrants(new Set());
    const kv = kvClient(never.served.url, holder);
    await holder.current();
    control.answer = () => {
      throw new ConnectError("broker down", Code.Unavailable);
    };
    const err = await kv.get({ key: "a" }).catch((e: unknown) => ConnectError.from(e));
    expect(err).toMatchObject({ code: Code.PermissionDenied, rawMessage: "grant refused" });
    expect(never.seen).toEqual(["pbgt_1"]);
  });

  it("a call aborted by its caller is not resent", async () => {
    const { holder, requests } = await broker();
    const controller = new AbortController();
    const seen: string[] = [];
    const served = await serveLoopback(KVService, {
      get: (_req, ctx: HandlerContext) => {
        seen.push(ctx.requestHeader.get(HEADER_GRANT) ?? "");
        controller.abort();
        throw new ConnectError("grant refused", Code.PermissionDenied);
      },
    });
    cleanups.push(() => served.close());
    const kv = kvClient(served.url, holder);
    await expect(kv.get({ key: "a" }, { signal: controller.signal })).rejects.toBeInstanceOf(ConnectError);
    expect(seen).toEqual(["pbgt_1"]);
    expect(requests).toHaveLength(1);
  });
});

describe("capabilityNotOffered", () => {
  it("is NotFound, naming the capability, unless the host offers it", () => {
    expect(capabilityNotOffered(KVService, [KVService.typeName])).toBeUndefined();
    const err = capabilityNotOffered(KVService, ["other.v1.Service"]);
    expect(err?.code).toBe(Code.NotFound);
    expect(err?.rawMessage).toBe(`the host offers no capability ${KVService.typeName}`);
  });
});
