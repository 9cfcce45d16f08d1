import { requestIdOf } from "./request-id.js";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { AuditSink } from "./audit.js";

/**
 * Records refused authentication on host RPCs. Sits outside the identity
 * interceptor and only watches what it throws, so that code stays as it is.
 */
export function createAuthFailureAuditInterceptor(audit: AuditSink): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (e) {
      if (e instanceof ConnectError && e.code === Code.Unauthenticated)
        audit({ event: "authentication", outcome: "failure", target: `/${req.service.typeName}/${req.method.name}`, reason: e.rawMessage, requestId: requestIdOf(req.contextValues) });
      throw e;
    }
  };
}
