import { requestIdOf } from "../audit/request-id.js";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { actorOf, type AuditSink } from "../audit/audit.js";
import { identityKey } from "../identity/identity.js";
import { HEADER_GRANT } from "../protocol/constants.js";
import type { TokenService } from "../tokens/tokens.js";

/**
 * Guards host capabilities: a call needs the caller's runtime identity (set by the
 * identity interceptor, which runs first) and a live grant for this capability
 * that was issued to that same runtime.
 */
export function createGrantInterceptor(tokens: TokenService, capabilityTypes: ReadonlySet<string>, audit: AuditSink): Interceptor {
  return (next) => async (req) => {
    if (!capabilityTypes.has(req.service.typeName)) return next(req);
    const caller = req.contextValues.get(identityKey);
    const token = req.header.get(HEADER_GRANT);
    const record = token ? await tokens.verify(token, "grant") : undefined;
    const reason =
      caller?.runtimeId === undefined
        ? "capabilities are for plugin runtimes"
        : !token
          ? `calling ${req.service.typeName} needs a grant from BrokerService.RequestCapability`
          : !record
            ? "grant is invalid, expired or revoked"
            : record.runtimeId !== caller.runtimeId
              ? "grant was issued to another runtime"
              : record.capability !== req.service.typeName
                ? "grant is for another capability"
                : undefined;
    if (reason !== undefined) {
      audit({ event: "grant.use", outcome: "failure", actor: actorOf(caller), target: req.service.typeName, reason, requestId: requestIdOf(req.contextValues) });
      throw new ConnectError(reason, Code.PermissionDenied);
    }
    return next(req);
  };
}
