import type * as http2 from "node:http2";
import type { TLSSocket } from "node:tls";
import type { X509Certificate } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { requireIdentity, type IdentityResolver } from "../identity/compose.js";
import { policySubject, type Identity } from "../identity/identity.js";
import type { Rbac } from "../policy/rbac.js";
import type { OutlierDetector } from "../router/outlier-ejection.js";
import { routedRequestId, type RoutedRequest, type RouteTarget } from "../router/router.js";
import { SelectionStrategy } from "../../gen/plugboard/v1/registry_pb.js";
import { createSelector, matchingProviders } from "../registry/select.js";
import type { RegistrationRecord, StoreEvent } from "../store/types.js";
import type { HostContext } from "./context.js";
import type { TokenIdentityCache } from "../identity/token-identity-cache.js";

/** The verified client certificate of an HTTP/2 request, if TLS verified one. */
export function peerCertificateOf(req: Pick<http2.Http2ServerRequest, "socket">) {
  const socket = req.socket as Partial<TLSSocket>;
  if (!socket.authorized || typeof socket.getPeerX509Certificate !== "function") return undefined;
  return socket.getPeerX509Certificate();
}

/**
 * The verified client certificate of a session, read once per session: HTTP/2 forbids TLS
 * renegotiation, so a connection's peer certificate never changes (and reading it builds a new
 * X509Certificate each time).
 */
const sessionCertificates = new WeakMap<http2.Http2Session, X509Certificate | null>();
export function sessionCertificateOf(session: http2.Http2Session | undefined): X509Certificate | undefined {
  if (session === undefined) return undefined;
  let cert = sessionCertificates.get(session);
  if (cert === undefined) {
    const socket = session.socket as Partial<TLSSocket> | undefined;
    cert = socket !== undefined && socket.authorized && typeof socket.getPeerX509Certificate === "function" ? (socket.getPeerX509Certificate() ?? null) : null;
    sessionCertificates.set(session, cert);
  }
  return cert ?? undefined;
}

/** Upper bound on cached entries of each routing cache; a full cache is simply cleared. */
const MAX_CACHED = 4096;
/**
 * Provider lists are dropped on every store event; this age bounds staleness where events can lag
 * (a shared store whose registrations expire by TTL before the sweep announces it).
 */
const PROVIDERS_MAX_AGE_MS = 1_000;

/** Cached provider lists by service type, then version range; at most MAX_CACHED in all (then cleared). */
class ProviderLists {
  private readonly byService = new Map<string, Map<string, { at: number; list: RegistrationRecord[] }>>();
  private count = 0;
  get(serviceType: string, range: string): { at: number; list: RegistrationRecord[] } | undefined {
    return this.byService.get(serviceType)?.get(range);
  }
  set(serviceType: string, range: string, entry: { at: number; list: RegistrationRecord[] }): void {
    if (this.count >= MAX_CACHED) this.clear();
    let byRange = this.byService.get(serviceType);
    if (byRange === undefined) this.byService.set(serviceType, (byRange = new Map()));
    if (!byRange.has(range)) this.count++;
    byRange.set(range, entry);
  }
  clear(): void {
    this.byService.clear();
    this.count = 0;
  }
}

/**
 * The router's decisions, made from host state: who is calling, whether it may
 * call this service, and which provider gets the call.
 *
 * Hot-path caching (each routed call would otherwise clone runtime and registration records
 * three or four times): authentication is cached only through `identities`, a cache every change
 * of a credential or runtime invalidates at once (a revoked or expired runtime is refused on its
 * next call); without it every call re-verifies the token and the runtime in the store. Also
 * cached: what cannot change for a live runtime (the `requires` it declared at handshake, its
 * signing key) and the matching providers of a service, which every store event invalidates.
 * Each decision answers synchronously when its answer is cached (see the router's route()).
 */
export function createRoutingDecisions(
  host: HostContext,
  identify: IdentityResolver,
  rbac: Rbac | undefined,
  outliers?: OutlierDetector,
  /** Runtime token → identity, kept true by the store (token-identity-cache.ts); told of each identity it answers. */
  identities?: { cache: TokenIdentityCache; onHit(identity: Identity): void },
) {
  const selector = createSelector();
  const signingKeys = new Map<string, Buffer>();
  /** runtimeId → service type → declared version range. Runtime records are written once, at handshake. */
  const requiresOf = new Map<string, ReadonlyMap<string, string>>();
  /** serviceType → range → matching providers, sorted (as matchingProviders returns them); no key string built per call. */
  const providers = new ProviderLists();
  /** Bumped by every store event, so a lookup that raced an event does not cache its stale answer. */
  let generation = 0;
  /** The route target of each cached registration record (dropped with the provider lists). */
  let targets = new WeakMap<RegistrationRecord, RouteTarget>();

  async function declaredRequires(runtimeId: string): Promise<ReadonlyMap<string, string> | undefined> {
    const cached = requiresOf.get(runtimeId);
    if (cached) return cached;
    const runtime = await host.store.getRuntime(runtimeId);
    if (!runtime) return undefined;
    const requires = new Map<string, string>();
    // The first declaration of a type wins, as a search of the list would find it.
    for (const need of runtime.requires) if (!requires.has(need.type)) requires.set(need.type, need.versionRange ?? "*");
    if (requiresOf.size >= MAX_CACHED) requiresOf.clear();
    requiresOf.set(runtimeId, requires);
    return requires;
  }

  /** The matching providers when a fresh list is cached (no await), else undefined. */
  function cachedProviders(serviceType: string, range: string): RegistrationRecord[] | undefined {
    const cached = providers.get(serviceType, range);
    return cached && performance.now() - cached.at < PROVIDERS_MAX_AGE_MS ? cached.list : undefined;
  }

  async function providersOf(serviceType: string, range: string): Promise<RegistrationRecord[]> {
    const now = performance.now();
    const cached = providers.get(serviceType, range);
    if (cached && now - cached.at < PROVIDERS_MAX_AGE_MS) return cached.list;
    const seen = generation;
    const registered = await host.store.listRegistrations(serviceType);
    if (registered.length === 0) throw new ConnectError(`no provider registered for ${serviceType}`, Code.Unavailable);
    const list = matchingProviders(registered, range, false);
    if (seen === generation) {
      providers.set(serviceType, range, { at: now, list });
    }
    return list;
  }

  function checkDeclared(caller: Identity, serviceType: string, method: string, requires: ReadonlyMap<string, string> | undefined, req: RoutedRequest | undefined): void {
    if (caller.kind === "runtime") {
      if (!requires) throw new ConnectError("runtime ended", Code.Unauthenticated);
      if (requires.has(serviceType)) return;
    } else if (rbac) return; // external callers are governed by RBAC alone
    if (host.policy.mayCallUndeclared?.(caller, serviceType, method)) return;
    host.audit({ event: "authorization", outcome: "failure", actor: { subject: caller.subject, method: caller.method }, target: `${serviceType}/${method}`, reason: "undeclared dependency", requestId: req && routedRequestId(req) });
    throw new ConnectError(`${serviceType} was not declared in requires at handshake`, Code.PermissionDenied);
  }

  /** Picks among the candidates; the chosen registration's target is built once and reused until the next store event. */
  function choose(serviceType: string, range: string, candidates: RegistrationRecord[], pin: string | undefined): RouteTarget | Promise<RouteTarget> {
    if (pin !== undefined) candidates = candidates.filter((r) => r.runtimeId === pin || r.registrationId === pin);
    // Ejected providers sit out (a pinned call goes where it was pinned); the same list when none is out.
    else if (outliers !== undefined) candidates = outliers.filter(candidates);
    const chosen = selector.pick(serviceType, candidates, SelectionStrategy.ROUND_ROBIN);
    if (!chosen)
      throw new ConnectError(
        pin !== undefined ? `pinned provider of ${serviceType} is not available` : `no healthy provider of ${serviceType} in range ${range}`,
        Code.Unavailable,
      );
    const known = targets.get(chosen);
    if (known) return known;
    const key = signingKeys.get(chosen.runtimeId);
    return key ? targetOf(chosen, key) : keyOf(chosen).then((k) => targetOf(chosen, k));
  }

  /** Synchronous when the caller's range, a fresh provider list and the chosen provider's key are known. */
  function resolve(serviceType: string, caller: Identity, pin: string | undefined): RouteTarget | Promise<RouteTarget> {
    if (caller.kind === "runtime") {
      const requires = requiresOf.get(caller.runtimeId!);
      if (!requires) return declaredRequires(caller.runtimeId!).then((r) => resolveIn(serviceType, r?.get(serviceType) ?? "*", pin));
      return resolveIn(serviceType, requires.get(serviceType) ?? "*", pin);
    }
    return resolveIn(serviceType, "*", pin);
  }

  function resolveIn(serviceType: string, range: string, pin: string | undefined): RouteTarget | Promise<RouteTarget> {
    const cached = cachedProviders(serviceType, range);
    if (cached) return choose(serviceType, range, cached, pin);
    return providersOf(serviceType, range).then((list) => choose(serviceType, range, list, pin));
  }

  function targetOf(chosen: RegistrationRecord, signingKey: Buffer): RouteTarget {
    const target: RouteTarget = { runtimeId: chosen.runtimeId, registrationId: chosen.registrationId, endpoint: chosen.endpoint, signingKey, ...(chosen.protocols ? { protocols: chosen.protocols } : {}) };
    targets.set(chosen, target);
    return target;
  }

  return {
    /** Synchronous for a runtime token the identity cache knows (no certificate on the connection). */
    authenticate(req: RoutedRequest): Identity | Promise<Identity> {
      const authorization = req.headers["authorization"];
      const cert = sessionCertificateOf(req.stream.session);
      const cacheable = identities !== undefined && cert === undefined && typeof authorization === "string";
      if (cacheable) {
        const known = identities.cache.get(authorization, req.stream.session);
        if (known !== undefined) {
          identities.onHit(known);
          return known;
        }
      }
      // Only the credential headers are copied: the authenticators read nothing else.
      const headers = new Headers();
      if (typeof authorization === "string") headers.set("authorization", authorization);
      const proven = requireIdentity(identify, cert ? { headers, peerCertificate: cert } : { headers });
      if (!cacheable) return proven;
      return proven.then((identity) => {
        identities.cache.learn(authorization, identity).catch(() => undefined); // a failed read only means no entry
        return identity;
      });
    },

    /** Synchronous when the caller's declared requires are known (they never change for a live runtime). */
    authorize(caller: Identity, serviceType: string, method: string, req?: RoutedRequest): void | Promise<void> {
      // The same subject rule as host RPCs: a runtime bound to a certificate or JWT is judged by it.
      if (rbac) rbac.require(policySubject(caller), `call:${serviceType}/${method}`);
      if (caller.kind !== "runtime") return checkDeclared(caller, serviceType, method, undefined, req);
      // authenticate has just found the runtime live in the store; its requires never change.
      const requires = requiresOf.get(caller.runtimeId!);
      if (requires) return checkDeclared(caller, serviceType, method, requires, req);
      return declaredRequires(caller.runtimeId!).then((r) => checkDeclared(caller, serviceType, method, r, req));
    },

    resolve,

    /** Forget cached keys of runtimes that ended. */
    forget,

    /** Feed every store event here: any registration change drops the cached provider lists. */
    observe(event: StoreEvent) {
      generation++;
      providers.clear();
      targets = new WeakMap();
      if (event.type === "removed" && event.cause !== "unregistered") forget(event.registration.runtimeId);
    },
  };

  function forget(runtimeId: string): void {
    signingKeys.delete(runtimeId);
    targets = new WeakMap();
    requiresOf.delete(runtimeId);
  }

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
