import { requestIdOf } from "../audit/request-id.js";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  AdminService,
  IssueEnrolmentTokenResponseSchema,
  ListPluginsResponseSchema,
  ListRuntimesResponseSchema,
  NameProof,
  RevokeEnrolmentTokenResponseSchema,
  RuntimeInfoSchema,
} from "../../gen/plugboard/v1/admin_pb.js";
import { actorOf } from "../audit/audit.js";
import type { LaunchedPlugins } from "../ops/launched.js";
import { toLaunchedPluginMessage } from "./launched-plugin.js";
import type { HostContext } from "../host/context.js";
import { identityKey, type Identity } from "../identity/identity.js";
import type { NameProofMethod } from "../identity/name-proof.js";
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
  wireBytes(runtime.healthMessage) +
  7 * FIELD_OVERHEAD +
  registrations.reduce((sum, r) => sum + registrationWireBytes(r) + FIELD_OVERHEAD, 0);

const NAME_PROOF: Record<NameProofMethod, NameProof> = {
  launch_secret: NameProof.LAUNCH_SECRET,
  mtls: NameProof.MTLS,
  jwt: NameProof.JWT,
  enrolment: NameProof.ENROLMENT,
  unproven: NameProof.UNPROVEN,
};

export function createAdminService(host: HostContext, launched: LaunchedPlugins): ServiceImpl<typeof AdminService> {
  const requireAdmin = (context: HandlerContext): Identity => {
    const caller = context.values.get(identityKey);
    if (!caller || !isAdmin(host.policy, caller)) throw new ConnectError("admin identity required", Code.PermissionDenied);
    return caller;
  };
  return {
    listPlugins(_req, context) {
      requireAdmin(context);
      const plugins = launched.list().sort((a, b) => a.name.localeCompare(b.name));
      return create(ListPluginsResponseSchema, { plugins: plugins.map(toLaunchedPluginMessage) });
    },
    async listRuntimes(req, context) {
      requireAdmin(context);
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
            healthMessage: r.healthMessage,
            startedAt: timestampFromMs(r.startedAt),
            registrations: own.map(toRegistration),
            nameProof: NAME_PROOF[r.nameProof ?? "unproven"],
          }),
        ),
        nextPageToken: page.nextPageToken,
      });
    },

    async issueEnrolmentToken(req, context) {
      const caller = requireAdmin(context);
      let issued;
      try {
        issued = await host.enrolments.issue(req.pluginName, {
          ...(req.ttlMs > 0n ? { ttlMs: Number(req.ttlMs) } : {}),
          ...(req.uses > 0 ? { uses: req.uses } : {}),
        });
      } catch (e) {
        if (e instanceof RangeError) throw new ConnectError(e.message, Code.InvalidArgument);
        throw e;
      }
      host.audit({ event: "enrolment.issue", outcome: "success", actor: actorOf(caller), target: issued.id, reason: issued.pluginName, requestId: requestIdOf(context.values) });
      return create(IssueEnrolmentTokenResponseSchema, { token: issued.token, id: issued.id, expiresAt: timestampFromMs(issued.expiresAt) });
    },

    async revokeEnrolmentToken(req, context) {
      const caller = requireAdmin(context);
      if (!(await host.enrolments.revoke(req.id))) throw new ConnectError("enrolment token not found", Code.NotFound);
      host.audit({ event: "enrolment.revoke", outcome: "success", actor: actorOf(caller), target: req.id, requestId: requestIdOf(context.values) });
      return create(RevokeEnrolmentTokenResponseSchema, {});
    },
  };
}
