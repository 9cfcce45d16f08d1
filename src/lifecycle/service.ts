import { requestIdOf } from "../audit/request-id.js";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { HealthState } from "../../gen/plugboard/v1/common_pb.js";
import { HeartbeatResponseSchema, LifecycleService, RenewCertificateResponseSchema, ReportHealthResponseSchema } from "../../gen/plugboard/v1/lifecycle_pb.js";
import { actorOf } from "../audit/audit.js";
import type { AutoTls } from "../identity/auto-tls.js";
import type { HostContext } from "../host/context.js";
import { identityKey } from "../identity/identity.js";
import { invalid } from "../validation/fields.js";
import type { Leases } from "./leases.js";

export interface LifecycleOptions {
  /** The host's AutoMTLS CA, once it runs one; RenewCertificate is refused without it. */
  autoTls?: () => AutoTls | undefined;
  /** Registration leases, renewed by Heartbeat. */
  leases?: Leases;
}

export function createLifecycleService(host: HostContext, options: LifecycleOptions = {}): ServiceImpl<typeof LifecycleService> {
  return {
    async reportHealth(req, context) {
      const caller = context.values.get(identityKey);
      if (caller?.runtimeId === undefined) throw new ConnectError("only a plugin runtime reports health", Code.PermissionDenied);
      if (req.state === HealthState.UNSPECIFIED || !(req.state in HealthState)) throw invalid("state", "must be HEALTHY, DEGRADED or UNHEALTHY");
      if (Buffer.byteLength(req.message) > host.limits.metadataValueBytes) throw invalid("message", "too long");
      await host.store.setHealth(caller.runtimeId, req.state as 1 | 2 | 3, req.message, host.now());
      return create(ReportHealthResponseSchema, {});
    },

    async heartbeat(_req, context) {
      const caller = context.values.get(identityKey);
      if (caller?.runtimeId === undefined) throw new ConnectError("only a plugin runtime sends heartbeats", Code.PermissionDenied);
      await options.leases?.renew(caller.runtimeId);
      const registrations = await host.store.countRegistrations({ runtimeId: caller.runtimeId });
      return create(HeartbeatResponseSchema, { leaseMs: options.leases?.leaseMs ?? 0, registrations });
    },

    async renewCertificate(req, context) {
      const auto = options.autoTls?.();
      if (!auto) throw new ConnectError("this host does not run AutoMTLS (tls: \"auto\")", Code.FailedPrecondition);
      const caller = context.values.get(identityKey);
      if (caller?.runtimeId === undefined || caller.pluginName === undefined)
        throw new ConnectError("only a plugin runtime renews its certificate", Code.PermissionDenied);
      // The name signed is the one the caller proved twice: its runtime was bound at handshake to this
      // SPIFFE ID, and the certificate of this very connection carries it (composeAuthenticators checks).
      const spiffeId = auto.pluginSpiffeId(caller.pluginName);
      if (caller.boundSubject !== spiffeId)
        throw new ConnectError(`runtime was not admitted with an AutoMTLS certificate for ${caller.pluginName}`, Code.PermissionDenied);
      try {
        const certificatePem = await auto.renewPlugin(caller.pluginName, req.csrPem);
        host.audit({ event: "certificate.renew", outcome: "success", actor: actorOf(caller), target: spiffeId, requestId: requestIdOf(context.values) });
        return create(RenewCertificateResponseSchema, { certificatePem });
      } catch (e) {
        if (e instanceof RangeError) throw invalid("csr_pem", e.message);
        throw e;
      }
    },
  };
}
