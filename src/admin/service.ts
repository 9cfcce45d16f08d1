import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { AdminService, ListRuntimesResponseSchema, RuntimeInfoSchema } from "../../gen/plugboard/v1/admin_pb.js";
import type { HostContext } from "../host/context.js";
import { identityKey } from "../identity/identity.js";
import { isAdmin } from "../policy/host-policy.js";
import { toRegistration } from "../registry/convert.js";

export function createAdminService(host: HostContext): ServiceImpl<typeof AdminService> {
  return {
    async listRuntimes(_req, context) {
      if (!isAdmin(host.policy, context.values.get(identityKey)))
        throw new ConnectError("admin identity required", Code.PermissionDenied);
      const [runtimes, registrations] = await Promise.all([host.store.listRuntimes(), host.store.listRegistrations()]);
      return create(ListRuntimesResponseSchema, {
        runtimes: runtimes.map((r) =>
          create(RuntimeInfoSchema, {
            runtimeId: r.runtimeId,
            pluginName: r.pluginName,
            pluginVersion: r.pluginVersion,
            health: r.health,
            startedAt: timestampFromMs(r.startedAt),
            registrations: registrations.filter((g) => g.runtimeId === r.runtimeId).map(toRegistration),
          }),
        ),
      });
    },
  };
}
