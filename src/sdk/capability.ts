import type { DescService } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Client, type Interceptor } from "@connectrpc/connect";
import type { BrokerService } from "../../gen/plugboard/v1/broker_pb.js";
import { HEADER_GRANT } from "../protocol/constants.js";
import { sendWithCredential } from "./replay.js";

export interface GrantHolder {
  /** The grant token to send now; renews it first when it is close to expiry. */
  current(): Promise<string>;
  /** The host refused `used`: fetch a new grant unless that already happened. */
  renew(used: string): Promise<void>;
}

/** Renew at this fraction of a grant's lifetime, so calls never carry an expired grant. */
const RENEW_AT = 0.8;

export function createGrantHolder(
  broker: Client<typeof BrokerService>,
  capabilityType: string,
  now: () => number = Date.now,
): GrantHolder {
  let token = "";
  let renewAtMs = 0;
  let pending: Promise<void> | undefined;

  const fetchGrant = (): Promise<void> => {
    pending ??= (async () => {
      const receivedAt = now();
      const res = await broker.requestCapability({ capabilityType });
      const lifetime = res.expiresAt ? Math.max(0, timestampMs(res.expiresAt) - receivedAt) : 0;
      token = res.grantToken;
      renewAtMs = receivedAt + lifetime * RENEW_AT;
    })().finally(() => {
      pending = undefined;
    });
    return pending;
  };

  return {
    async current() {
      if (pending) await pending;
      if (token === "" || now() >= renewAtMs) await fetchGrant();
      return token;
    },
    async renew(used) {
      if (pending) return pending;
      if (used !== token) return;
      return fetchGrant();
    },
  };
}

/** Adds `plugboard-grant`; on PermissionDenied (grant expired or revoked, runtime replaced) renews once and resends. */
export function createGrantInterceptor(grant: GrantHolder): Interceptor {
  return (next) => (req) =>
    sendWithCredential(req, next, {
      current: () => grant.current(),
      renew: (refused) => grant.renew(refused),
      attach: (r, token) => r.header.set(HEADER_GRANT, token),
      refusedWith: Code.PermissionDenied,
    });
}

export function capabilityNotOffered(service: DescService, offered: readonly string[]): ConnectError | undefined {
  if (offered.includes(service.typeName)) return undefined;
  return new ConnectError(`the host offers no capability ${service.typeName}`, Code.NotFound);
}
