import type { HandlerContext } from "@connectrpc/connect";
import type { Store } from "../store/types.js";
import { createCaps, type CapLimits } from "./caps.js";
import { createHandshakeRateLimiter } from "./handshake-rate.js";
import { peerOf } from "./peer.js";

export { peerAddressKey, peerAddressOf, peerKey } from "./peer.js";
export { registrationMetadataBytes, validateMetadataTotal } from "./metadata-size.js";

export interface AdmissionLimits extends CapLimits {
  handshakesPerSecond: number;
  handshakeBurst: number;
}

/** What the host admits: handshakes per peer, runtimes and registrations in the store. Refusals are ResourceExhausted. */
export interface Admission {
  /** Spends one handshake of the calling peer's budget (RetryInfo says when to retry). */
  handshake(context: HandlerContext): Promise<void>;
  /** Room for one more runtime of this plugin name (limits.maxRuntimes, limits.maxRuntimesPerName). */
  runtimeSlot(pluginName: string): Promise<void>;
  /** Room for one more registration (limits.registrationsPerRuntime, limits.registrationsPerService). */
  registrationSlot(runtimeId: string, serviceType: string): Promise<void>;
}

export function createAdmission(limits: AdmissionLimits, store: Store): Admission {
  const rate = createHandshakeRateLimiter({ perSecond: limits.handshakesPerSecond, burst: limits.handshakeBurst });
  const caps = createCaps(limits, store);
  return {
    handshake: (context) => rate.admit(peerOf(context)),
    runtimeSlot: caps.runtimeSlot,
    registrationSlot: caps.registrationSlot,
  };
}
export { checkAdmissionLimits } from "./limits-check.js";
