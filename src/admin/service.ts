import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  AdminService,
  IssueEnrolmentTokenResponseSchema,
  ListRuntimesResponseSchema,
  NameProof,
  RevokeEnrolmentTokenResponseSchema,
  RuntimeInfoSchema,
} from "../../gen/plugboard/v1/admin_pb.js";
import { actorOf } from "../audit/audit.js";
import type { HostContext } from "../host/context.js";
import { identityKey, type Identity } from "../identity/identity.js";
import type { NameProofMethod } from "../identity/name-proof.js";
import { isAdmin } from "../policy/host-policy.js";
import { toRegistration } from "../registry/convert.js";

const NAME_PROOF: Record<NameProofMethod, NameProof> = {
  launch_secret: NameProof.LAUNCH_SECRET,
  mtls: NameProof.MTLS,
  jwt: NameProof.JWT,
  enrolment: NameProof.ENROLMENT,
  unproven: NameProof.UNPROVEN,
};

export function createAdminService(host: HostContext): ServiceImpl<typeof AdminService> {
  const requireAdmin = (context: HandlerContext): Identity => {
    const caller = context.values.get(identityKey);
    if (!caller || !isAdmin(host.policy, caller)) throw new ConnectError("admin identity required", Code.PermissionDenied);
    return caller;
  };
  return {
    async listRuntimes(_req, context) {
      requireAdmin(context);
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
            nameProof: NAME_PROOF[r.nameProof ?? "unproven"],
          }),
        ),
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
      host.audit({ event: "enrolment.issue", outcome: "success", actor: actorOf(caller), target: issued.id, reason: issued.pluginName });
      return create(IssueEnrolmentTokenResponseSchema, { token: issued.token, id: issued.id, expiresAt: timestampFromMs(issued.expiresAt) });
    },

    async revokeEnrolmentToken(req, context) {
      const caller = requireAdmin(context);
      if (!(await host.enrolments.revoke(req.id))) throw new ConnectError("enrolment token not found", Code.NotFound);
      host.audit({ event: "enrolment.revoke", outcome: "success", actor: actorOf(caller), target: req.id });
      return create(RevokeEnrolmentTokenResponseSchema, {});
    },
  };
}
