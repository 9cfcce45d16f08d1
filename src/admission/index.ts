import { requestIdOf } from "../audit/request-id.js";
import { ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { AuditSink } from "../audit/audit.js";
import type { Store } from "../store/types.js";
import { createCaps, type CapLimits } from "./caps.js";
import { createHandshakeRateLimiter } from "./handshake-rate.js";
import { peerOf } from "./peer.js";

export { peerAddressKey, peerAddressOf, peerAddressOfSession, peerKey } from "./peer.js";
export { registrationMetadataBytes, validateMetadataTotal } from "./metadata-size.js";
export { checkAdmissionLimits } from "./limits-check.js";

export interface AdmissionLimits extends CapLimits {
  handshakesPerSecond: number;
  handshakeBurst: number;
}

/** What the host admits: handshakes per peer, runtimes and registrations in the store. Refusals are ResourceExhausted. */
export interface Admission {
  /** Spends one handshake of the calling peer's budget (RetryInfo says when to retry). */
  handshake(context: HandlerContext): Promise<void>;
  /** Room for one more runtime of this plugin name (limits.maxRuntimes, limits.maxRuntimesPerName). */
  runtimeSlot(pluginName: string, requestId?: string): Promise<void>;
  /** Room for one more registration (limits.registrationsPerRuntime, limits.registrationsPerService). */
  registrationSlot(runtimeId: string, serviceType: string, requestId?: string): Promise<void>;
}

const HANDSHAKE_PATH = "/plugboard.v1.HandshakeService/Handshake";

export function createAdmission(limits: AdmissionLimits, store: Store, audit: AuditSink): Admission {
  const rate = createHandshakeRateLimiter({ perSecond: limits.handshakesPerSecond, burst: limits.handshakeBurst });
  const caps = createCaps(limits, store);
  /** Refusals are audited with the limit that refused (never a token: only names, ids and peer addresses). */
  const audited = async (event: string, target: string, check: () => Promise<void>, context = "", requestId?: string) => {
    try {
      await check();
    } catch (err) {
      if (err instanceof ConnectError) audit({ event, outcome: "failure", target, reason: err.rawMessage + context, requestId });
      throw err;
    }
  };
  return {
    handshake: (context) => {
      const peer = peerOf(context);
      return audited("rate_limit", HANDSHAKE_PATH, () => rate.admit(peer), ` (peer ${peer})`, requestIdOf(context.values));
    },
    runtimeSlot: (pluginName, requestId) => audited("handshake", pluginName, () => caps.runtimeSlot(pluginName), "", requestId),
    registrationSlot: (runtimeId, serviceType, requestId) =>
      audited("registration", serviceType, () => caps.registrationSlot(runtimeId, serviceType), "", requestId),
  };
}
