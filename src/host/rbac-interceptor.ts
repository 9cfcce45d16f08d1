import type { Interceptor } from "@connectrpc/connect";
import { identityKey, policySubject } from "../identity/identity.js";
import type { Permission } from "../policy/permission.js";
import type { Rbac } from "../policy/rbac.js";

/** The permission each host RPC needs, from its request (unary requests only carry one message). */
function permissionsFor(method: string, message: Record<string, unknown> | undefined): Permission[] {
  const str = (field: string) => String(message?.[field] ?? "");
  switch (method) {
    case "plugboard.v1.HandshakeService/Handshake":
      return ["handshake"];
    case "plugboard.v1.RegistryService/Register":
      return [`register:${str("serviceType")}`];
    case "plugboard.v1.RegistryService/Discover":
      return [`discover:${str("serviceType")}`];
    case "plugboard.v1.RegistryService/Watch": {
      const types = (message?.["serviceTypes"] as string[] | undefined) ?? [];
      return types.length === 0 ? ["discover:*"] : types.map((t) => `discover:${t}`);
    }
    case "plugboard.v1.BrokerService/RequestCapability":
      return [`capability:${str("capabilityType")}`];
    case "plugboard.v1.SecretsService/GetSecrets":
    case "plugboard.v1.SecretsService/WatchSecrets":
      // An empty list (and any stream, whose message is not here) means the service judges each name it
      // returns (secretReadAuthorizer).
      return ((message?.["names"] as string[] | undefined) ?? []).map((n) => `secret:${n}`);
    case "plugboard.v1.AdminService/ListRuntimes":
    case "plugboard.v1.AdminService/IssueEnrolmentToken":
    case "plugboard.v1.AdminService/RevokeEnrolmentToken":
      return ["admin"];
    default:
      return [];
  }
}

/**
 * RBAC on host RPCs, after the identity interceptor. Anonymous handshakes have no
 * subject to check; every other RPC has an identity by then.
 */
export function createRbacInterceptor(rbac: Rbac): Interceptor {
  return (next) => async (req) => {
    const identity = req.contextValues.get(identityKey);
    if (identity) {
      const message = req.stream ? undefined : (req.message as unknown as Record<string, unknown>);
      for (const permission of permissionsFor(`${req.service.typeName}/${req.method.name}`, message)) {
        rbac.require(policySubject(identity), permission);
      }
    }
    return next(req);
  };
}
