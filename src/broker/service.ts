import { requestIdOf } from "../audit/request-id.js";
import { provenName } from "../identity/name-proof.js";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  BrokerService,
  RequestCapabilityResponseSchema,
  RevokeGrantResponseSchema,
} from "../../gen/plugboard/v1/broker_pb.js";
import { actorOf } from "../audit/audit.js";
import type { HostContext } from "../host/context.js";
import { identityKey } from "../identity/identity.js";
import { isAdmin } from "../policy/host-policy.js";
import { invalid, validateServiceType } from "../validation/fields.js";

export function createBrokerService(host: HostContext): ServiceImpl<typeof BrokerService> {
  return {
    async requestCapability(req, context) {
      const caller = context.values.get(identityKey);
      validateServiceType("capability_type", req.capabilityType, host.limits.nameBytes);
      const refuse = (code: Code, reason: string) => {
        host.audit({ event: "grant.issue", outcome: "failure", actor: actorOf(caller), target: req.capabilityType, reason, requestId: requestIdOf(context.values) });
        return new ConnectError(reason, code);
      };
      if (caller?.kind !== "runtime" || caller.runtimeId === undefined)
        throw refuse(Code.PermissionDenied, "only a plugin runtime may request capabilities");
      if (!host.capabilityTypes.has(req.capabilityType))
        throw refuse(Code.NotFound, `the host offers no capability ${req.capabilityType}`);
      const runtime = await host.store.getRuntime(caller.runtimeId);
      if (!runtime?.capabilities.includes(req.capabilityType))
        throw refuse(Code.PermissionDenied, `${req.capabilityType} was not declared in capabilities at handshake`);
      const name = provenName(runtime);
      if (host.policy.mayRequestCapability && (name === undefined || !host.policy.mayRequestCapability(name, req.capabilityType)))
        throw refuse(Code.PermissionDenied, `host policy does not allow ${runtime.pluginName} to use ${req.capabilityType}${name === undefined ? " (name not proven)" : ""}`);
      const grant = await host.tokens.issue("grant", caller.runtimeId, host.grantTtlMs, { capability: req.capabilityType });
      host.audit({ event: "grant.issue", outcome: "success", actor: actorOf(caller), target: `${req.capabilityType}#${grant.id}`, requestId: requestIdOf(context.values) });
      return create(RequestCapabilityResponseSchema, {
        grantId: grant.id,
        grantToken: grant.token,
        expiresAt: timestampFromMs(grant.expiresAt),
      });
    },

    async revokeGrant(req, context) {
      const caller = context.values.get(identityKey);
      if (req.grantId === "" || req.grantId.length > 64) throw invalid("grant_id", "required");
      const found = await host.tokens.find(req.grantId);
      if (found?.kind !== "grant") throw new ConnectError("grant not found", Code.NotFound);
      if (found.runtimeId !== caller?.runtimeId && !isAdmin(host.policy, caller))
        throw new ConnectError("a plugin may only revoke its own grants", Code.PermissionDenied);
      await host.tokens.revokeById(req.grantId);
      host.audit({ event: "grant.revoke", outcome: "success", actor: actorOf(caller), target: req.grantId, requestId: requestIdOf(context.values) });
      return create(RevokeGrantResponseSchema, {});
    },
  };
}
