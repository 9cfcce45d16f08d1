import { Code, ConnectError } from "@connectrpc/connect";
import type { HandshakeRequest } from "../../gen/plugboard/v1/handshake_pb.js";
import type { HostContext } from "../host/context.js";
import type { Identity } from "../identity/identity.js";
import type { NameProofMethod } from "../identity/name-proof.js";
import { provenName } from "../identity/name-proof.js";

/** How a handshake proved its plugin name, and what it still has to spend once admitted. */
export interface NameProof {
  method: NameProofMethod;
  /** The certificate/JWT subject the runtime is bound to (RBAC judges it). */
  boundSubject?: string;
  boundMethod?: "mtls" | "jwt";
  /** Spends single-use proofs (launch secret, an enrolment use); false when they were spent meanwhile. */
  spend(): Promise<boolean>;
}

export const HOW_TO_PROVE =
  "present a launch secret (launch_secret), an enrolment token (enrolment_token, from host.issueEnrolmentToken or `plugboard enrol`), " +
  "a client certificate whose SPIFFE ID names the plugin, or a JWT carrying the plugin-name claim";

const nothing = async () => true;

/**
 * Works out, without spending anything, whether the handshake proves `plugin_name`.
 * Every proof presented must name the same plugin: a certificate or JWT naming another
 * plugin, or another plugin's launch secret or enrolment token, is refused (and the other
 * plugin's secret is left intact). Without proof the handshake is refused, unless the host
 * opted into unproven names and the name is bound to nothing.
 */
export async function proveName(host: HostContext, req: HandshakeRequest, caller: Identity | undefined): Promise<NameProof> {
  const name = req.pluginName;
  const proofs: NameProofMethod[] = [];
  const spends: Array<() => Promise<boolean>> = [];
  const bound =
    caller && (caller.method === "mtls" || caller.method === "jwt")
      ? { boundSubject: caller.subject, boundMethod: caller.method }
      : {};

  if (caller?.provesPluginName !== undefined) {
    if (caller.provesPluginName !== name)
      throw new ConnectError(
        `the ${caller.method === "mtls" ? "client certificate" : "JWT"} proves plugin name "${caller.provesPluginName}"; plugin_name "${name}" is refused`,
        Code.PermissionDenied,
      );
    proofs.push(caller.method === "mtls" ? "mtls" : "jwt");
  }

  if (req.launchSecret !== "") {
    const verdict = host.launchSecrets.check(name, req.launchSecret);
    if (verdict === "other-plugin")
      throw new ConnectError(`launch secret was not issued to plugin "${name}"`, Code.PermissionDenied);
    if (verdict === "unknown") throw new ConnectError("launch secret unknown, expired or already used", Code.Unauthenticated);
    proofs.push("launch_secret");
    spends.push(async () => host.launchSecrets.consume(name, req.launchSecret));
  } else if (host.requireLaunchSecret) {
    throw new ConnectError("launch secret required: this host admits only plugins it launched", Code.Unauthenticated);
  }

  if (req.enrolmentToken !== "") {
    const enrolledAs = await host.enrolments.nameOf(req.enrolmentToken);
    if (enrolledAs === undefined)
      throw new ConnectError("enrolment token unknown, expired, revoked or used up", Code.Unauthenticated);
    if (enrolledAs !== name) throw new ConnectError(`enrolment token was not issued to plugin "${name}"`, Code.PermissionDenied);
    proofs.push("enrolment");
    spends.push(() => host.enrolments.spend(req.enrolmentToken));
  }

  const spend = async () => {
    for (const s of spends) if (!(await s())) return false;
    return true;
  };
  if (proofs.length > 0) return { method: proofs[0]!, ...bound, spend };

  if (!host.allowUnprovenNames) throw new ConnectError(`plugin name "${name}" is not proven: ${HOW_TO_PROVE}`, Code.Unauthenticated);
  if (await nameIsTaken(host, name))
    throw new ConnectError(
      `plugin name "${name}" is held by a proven runtime or bound in policy, RBAC or runtime roles; an unproven runtime cannot take it: ${HOW_TO_PROVE}`,
      Code.PermissionDenied,
    );
  return { method: "unproven", ...bound, spend: nothing };
}

/** A name an unproven runtime may not take: reserved by configuration or held by a proven runtime. */
async function nameIsTaken(host: HostContext, name: string): Promise<boolean> {
  if (host.nameIsBound(name)) return true;
  return (await host.store.listRuntimes()).some((r) => r.pluginName === name && provenName(r) !== undefined);
}

/** Proven runtimes win their name: unproven runtimes that held it are ended. */
export async function evictUnprovenHolders(host: HostContext, name: string, requestId?: string): Promise<void> {
  for (const r of await host.store.listRuntimes()) {
    if (r.pluginName !== name || provenName(r) !== undefined) continue;
    if (await host.store.removeRuntime(r.runtimeId, "revoked"))
      host.audit({ event: "token.revoke", outcome: "success", target: r.runtimeId, reason: `unproven holder of "${name}" replaced by a proven runtime`, requestId });
  }
}
