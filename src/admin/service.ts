import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { AdminService, ListRuntimesResponseSchema, RuntimeInfoSchema } from "../../gen/plugboard/v1/admin_pb.js";
import type { HostContext } from "../host/context.js";
import { identityKey } from "../identity/identity.js";
import { isAdmin } from "../policy/host-policy.js";
import { toRegistration } from "../registry/convert.js";
import { FIELD_OVERHEAD, pageLimitsOf, registrationWireBytes, takePage, wireBytes } from "../paging/index.js";
import type { RegistrationRecord, RuntimeRecord } from "../store/types.js";

type Listed = { runtime: RuntimeRecord; registrations: RegistrationRecord[] };

/** Upper bound of a RuntimeInfo's encoded size: its strings, timestamp and registrations. */
const listedBytes = ({ runtime, registrations }: Listed) =>
  wireBytes(runtime.runtimeId) +
  wireBytes(runtime.pluginName) +
  wireBytes(runtime.pluginVersion) +
  6 * FIELD_OVERHEAD +
  registrations.reduce((sum, r) => sum + registrationWireBytes(r) + FIELD_OVERHEAD, 0);

export function createAdminService(host: HostContext): ServiceImpl<typeof AdminService> {
  return {
    async listRuntimes(req, context) {
      if (!isAdmin(host.policy, context.values.get(identityKey)))
        throw new ConnectError("admin identity required", Code.PermissionDenied);
      const [runtimes, registrations] = await Promise.all([host.store.listRuntimes(), host.store.listRegistrations()]);
      const byRuntime = new Map<string, RegistrationRecord[]>();
      for (const g of registrations) {
        const own = byRuntime.get(g.runtimeId);
        if (own) own.push(g);
        else byRuntime.set(g.runtimeId, [g]);
      }
      const listed = runtimes.map((runtime) => ({ runtime, registrations: byRuntime.get(runtime.runtimeId) ?? [] }));
      const page = takePage(listed, (l) => l.runtime.runtimeId, listedBytes, req, pageLimitsOf(host.limits));
      return create(ListRuntimesResponseSchema, {
        runtimes: page.items.map(({ runtime: r, registrations: own }) =>
          create(RuntimeInfoSchema, {
            runtimeId: r.runtimeId,
            pluginName: r.pluginName,
            pluginVersion: r.pluginVersion,
            health: r.health,
            startedAt: timestampFromMs(r.startedAt),
            registrations: own.map(toRegistration),
          }),
        ),
        nextPageToken: page.nextPageToken,
      });
    },
  };
}
