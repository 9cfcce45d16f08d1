import type * as http2 from "node:http2";
import type { TLSSocket } from "node:tls";
import { Code, ConnectError } from "@connectrpc/connect";
import { requireIdentity, type IdentityResolver } from "../identity/compose.js";
import { policySubject, type Identity } from "../identity/identity.js";
import type { Rbac } from "../policy/rbac.js";
import type { RouteTarget } from "../router/router.js";
import { SelectionStrategy } from "../../gen/plugboard/v1/registry_pb.js";
import { createSelector, matchingProviders } from "../registry/select.js";
import type { RegistrationRecord } from "../store/types.js";
import type { HostContext } from "./context.js";

/** The verified client certificate of an HTTP/2 request, if TLS verified one. */
export function peerCertificateOf(req: http2.Http2ServerRequest) {
  const socket = req.socket as Partial<TLSSocket>;
  if (!socket.authorized || typeof socket.getPeerX509Certificate !== "function") return undefined;
  return socket.getPeerX509Certificate();
}

/**
 * The router's decisions, made from host state: who is calling, whether it may
 * call this service, and which provider gets the call.
 */
export function createRoutingDecisions(host: HostContext, identify: IdentityResolver, rbac: Rbac | undefined) {
  const selector = createSelector();
  const signingKeys = new Map<string, Buffer>();

  return {
    async authenticate(req: http2.Http2ServerRequest): Promise<Identity> {
      // Only the credential headers are copied: the authenticators read nothing else.
      const headers = new Headers();
      const authorization = req.headers["authorization"];
      if (typeof authorization === "string") headers.set("authorization", authorization);
      const cert = peerCertificateOf(req);
      return requireIdentity(identify, cert ? { headers, peerCertificate: cert } : { headers });
    },

    async authorize(caller: Identity, serviceType: string, method: string): Promise<void> {
      if (rbac) rbac.require(policySubject(caller), `call:${serviceType}/${method}`);
      if (caller.kind === "runtime") {
        const runtime = await host.store.getRuntime(caller.runtimeId!);
        if (!runtime) throw new ConnectError("runtime ended", Code.Unauthenticated);
        if (runtime.requires.some((need) => need.type === serviceType)) return;
      } else if (rbac) return; // external callers are governed by RBAC alone
      if (host.policy.mayCallUndeclared?.(caller, serviceType, method)) return;
      host.audit({ event: "authorization", outcome: "failure", actor: { subject: caller.subject, method: caller.method }, target: `${serviceType}/${method}`, reason: "undeclared dependency" });
      throw new ConnectError(`${serviceType} was not declared in requires at handshake`, Code.PermissionDenied);
    },

    async resolve(serviceType: string, caller: Identity, pin: string | undefined): Promise<RouteTarget> {
      let range = "*";
      if (caller.kind === "runtime") {
        const runtime = await host.store.getRuntime(caller.runtimeId!);
        range = runtime?.requires.find((need) => need.type === serviceType)?.versionRange ?? "*";
      }
      const registered = await host.store.listRegistrations(serviceType);
      if (registered.length === 0) throw new ConnectError(`no provider registered for ${serviceType}`, Code.Unimplemented);
      let candidates = matchingProviders(registered, range, false);
      if (pin !== undefined) candidates = candidates.filter((r) => r.runtimeId === pin || r.registrationId === pin);
      const chosen = selector.pick(serviceType, candidates, SelectionStrategy.ROUND_ROBIN);
      if (!chosen)
        throw new ConnectError(
          pin !== undefined ? `pinned provider of ${serviceType} is not available` : `no healthy provider of ${serviceType} in range ${range}`,
          Code.Unavailable,
        );
      return { runtimeId: chosen.runtimeId, registrationId: chosen.registrationId, endpoint: chosen.endpoint, signingKey: await keyOf(chosen) };
    },

    /** Forget cached keys of runtimes that ended. */
    forget(runtimeId: string) {
      signingKeys.delete(runtimeId);
    },
  };

  async function keyOf(registration: RegistrationRecord): Promise<Buffer> {
    let key = signingKeys.get(registration.runtimeId);
    if (!key) {
      const runtime = await host.store.getRuntime(registration.runtimeId);
      if (!runtime) throw new ConnectError(`provider of ${registration.serviceType} is gone`, Code.Unavailable);
      key = Buffer.from(runtime.callerSigningKey, "base64");
      signingKeys.set(registration.runtimeId, key);
    }
    return key;
  }
}

