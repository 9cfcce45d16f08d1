import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import { verifyCallerHeader, type VerifiedCallerClaims } from "../protocol/caller-header.js";
import { HEADER_CALLER } from "../protocol/constants.js";

/** The host-verified caller of the current call; set for every call a plugin's impl receives. */
export const callerKey = createContextKey<VerifiedCallerClaims | undefined>(undefined, {
  description: "plugboard verified caller",
});

/**
 * Refuses calls that did not come through the host: the `plugboard-caller` header must be signed
 * with this plugin's current key (from the handshake) for exactly the procedure being called.
 * `key` is read per call because a re-handshake replaces it.
 */
export function createCallerInterceptor(key: () => Buffer | undefined, maxAgeMs?: number): Interceptor {
  return (next) => async (req) => {
    const current = key();
    const path = `/${req.service.typeName}/${req.method.name}`;
    const claims = current ? verifyCallerHeader(req.header.get(HEADER_CALLER), current, path, maxAgeMs ? { maxAgeMs } : {}) : undefined;
    if (!claims) throw new ConnectError("calls must come through the plugboard host (missing or invalid caller header)", Code.Unauthenticated);
    req.contextValues.set(callerKey, claims);
    return next(req);
  };
}
