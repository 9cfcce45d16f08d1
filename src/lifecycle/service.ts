import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { HealthState } from "../../gen/plugboard/v1/common_pb.js";
import { LifecycleService, ReportHealthResponseSchema } from "../../gen/plugboard/v1/lifecycle_pb.js";
import type { HostContext } from "../host/context.js";
import { identityKey } from "../identity/identity.js";
import { invalid } from "../validation/fields.js";

export function createLifecycleService(host: HostContext): ServiceImpl<typeof LifecycleService> {
  return {
    async reportHealth(req, context) {
      const caller = context.values.get(identityKey);
      if (caller?.runtimeId === undefined) throw new ConnectError("only a plugin runtime reports health", Code.PermissionDenied);
      if (req.state === HealthState.UNSPECIFIED || !(req.state in HealthState)) throw invalid("state", "must be HEALTHY, DEGRADED or UNHEALTHY");
      if (Buffer.byteLength(req.message) > host.limits.metadataValueBytes) throw invalid("message", "too long");
      await host.store.setHealth(caller.runtimeId, req.state as 1 | 2 | 3, req.message, host.now());
      return create(ReportHealthResponseSchema, {});
    },
  };
}
