import { requestIdOf } from "../audit/request-id.js";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  HandshakeResponseSchema,
  HandshakeService,
  RefreshTokenResponseSchema,
  RevokeResponseSchema,
  type HandshakeRequest,
} from "../../gen/plugboard/v1/handshake_pb.js";
import { actorOf } from "../audit/audit.js";
import type { HostContext } from "../host/context.js";
import { identityKey, type Identity } from "../identity/identity.js";
import { isAdmin } from "../policy/host-policy.js";
import { CORE_PROTOCOL_VERSION } from "../protocol/constants.js";
import type { RuntimeRecord } from "../store/types.js";
import { drawRandom, randomId } from "../tokens/tokens.js";
import { secretMatcher } from "../tokens/secret-compare.js";
import { invalid, validateRange } from "../validation/fields.js";
import { validateBaseUrl } from "../validation/urls.js";
import { validateDeclarations } from "./declarations.js";
import { createVersionNegotiator } from "./negotiate.js";
import { evictUnprovenHolders, proveName, type NameProof } from "./prove-name.js";
import { provenName } from "../identity/name-proof.js";

export function createHandshakeService(host: HostContext): ServiceImpl<typeof HandshakeService> {
  const cookieKeyMatches = secretMatcher(host.magicCookie.key);
  const cookieValueMatches = secretMatcher(host.magicCookie.value);
  // Offers are validated once each: a remembered offer passed validateRange before.
  const negotiateVersion = createVersionNegotiator(host.appProtocolVersions, {
    validate: (ranges) => ranges.forEach((range, i) => validateRange(`app_protocol_ranges[${i}]`, range)),
  });
  const refuse = (req: HandshakeRequest, caller: Identity | undefined, requestId: string | undefined, code: Code, reason: string): ConnectError => {
    host.audit({ event: "handshake", outcome: "failure", actor: actorOf(caller), target: req.pluginName.slice(0, 128), reason, requestId });
    return new ConnectError(reason, code);
  };

  /**
   * Checks run in an order that reveals nothing useful to a stranger before the cookie matches,
   * and the whole request is validated before any single-use proof is spent (the caller spends it
   * once admission caps also hold): a refusal for any other reason leaves a launch secret or
   * enrolment use intact.
   */
  async function admit(req: HandshakeRequest, caller: Identity | undefined, requestId: string | undefined) {
    const cookieOk = cookieKeyMatches(req.magicCookieKey) && cookieValueMatches(req.magicCookieValue);
    if (!cookieOk)
      throw refuse(req, caller, requestId, Code.FailedPrecondition, "magic cookie mismatch: this process is not a plugin of this host");
    if (req.coreProtocolVersion !== CORE_PROTOCOL_VERSION)
      throw refuse(
        req,
        caller, requestId,
        Code.FailedPrecondition,
        `core protocol version ${req.coreProtocolVersion} is not supported; the host speaks ${CORE_PROTOCOL_VERSION}`,
      );
    const declarations = validateDeclarations(req, host.limits);
    const version = negotiateVersion(req.appProtocolRanges);
    if (version === undefined)
      throw refuse(
        req,
        caller, requestId,
        Code.FailedPrecondition,
        `no common app protocol version: host offers ${host.appProtocolVersions.join(", ")}`,
      );
    let proof: NameProof;
    try {
      proof = await proveName(host, req, caller);
    } catch (e) {
      const err = ConnectError.from(e);
      throw refuse(req, caller, requestId, err.code, err.rawMessage);
    }
    const name = provenName({ pluginName: req.pluginName, nameProof: proof.method });
    for (const p of declarations.provides) {
      // Policy on providers is keyed by name: an unproven name provides nothing such a policy governs.
      if (host.policy.mayProvide && (name === undefined || !host.policy.mayProvide(name, p.type)))
        throw refuse(req, caller, requestId, Code.PermissionDenied, `host policy does not allow ${req.pluginName} to provide ${p.type}${name === undefined ? " (name not proven)" : ""}`);
    }
    for (const c of declarations.capabilities) {
      if (!host.capabilityTypes.has(c)) throw invalid("capabilities", `the host offers no capability ${c}`);
    }
    const baseUrl =
      req.baseUrl === ""
        ? ""
        : validateBaseUrl("base_url", req.baseUrl, {
            allowedEndpointHosts: host.allowedEndpointHosts,
            maxBytes: host.limits.urlBytes,
          });
    if (baseUrl === "" && declarations.provides.length > 0)
      throw invalid("base_url", "required when the plugin provides services");
    return { declarations, version, baseUrl, proof };
  }

  async function newRuntimeId(): Promise<string> {
    // 128 random bits make a collision practically impossible; checking makes it impossible.
    for (;;) {
      const id = randomId("rt_", host.random);
      if (!(await host.store.getRuntime(id))) return id;
    }
  }

  return {
    async handshake(req, context: HandlerContext) {
      await host.admission.handshake(context);
      const caller = context.values.get(identityKey);
      const requestId = requestIdOf(context.values);
      if (caller?.kind === "runtime")
        throw new ConnectError("already a runtime: handshake without a runtime token", Code.FailedPrecondition);
      const { declarations, version, baseUrl, proof } = await admit(req, caller, requestId);
      await host.admission.runtimeSlot(req.pluginName, requestId);
      // Required secrets are checked now, not at the plugin's first secret() after it reported ready.
      // Secret scopes key on the proven name: an unproven runtime could never read one.
      if (proof.method === "unproven" && declarations.secrets.some((s) => !s.optional))
        throw refuse(req, caller, requestId, Code.PermissionDenied, "required secrets need a proven plugin name; this handshake proves none");
      await host.admitSecrets(req.pluginName, declarations.secrets).catch((e: ConnectError) => {
        throw refuse(req, caller, requestId, e.code, e.rawMessage);
      });
      // Everything holds: only now is a single-use proof spent.
      if (!(await proof.spend()))
        throw refuse(req, caller, requestId, Code.Unauthenticated, "launch secret or enrolment token was used up meanwhile");
      const runtimeId = await newRuntimeId();
      const now = host.now();
      const signingKey = drawRandom(host.random, 32);
      const issued = await host.tokens.issue("runtime", runtimeId, host.runtimeTokenTtlMs);
      const runtime: RuntimeRecord = {
        runtimeId,
        pluginName: req.pluginName,
        pluginVersion: req.pluginVersion,
        ...declarations,
        baseUrl,
        appProtocolVersion: version,
        callerSigningKey: signingKey.toString("base64"),
        nameProof: proof.method,
        ...(proof.boundSubject !== undefined ? { boundSubject: proof.boundSubject } : {}),
        ...(proof.boundMethod !== undefined ? { boundMethod: proof.boundMethod } : {}),
        health: 1,
        healthMessage: "",
        healthReportedAt: now,
        startedAt: now,
        expiresAt: issued.expiresAt,
      };
      await host.store.putRuntime(runtime);
      if (host.allowUnprovenNames && proof.method !== "unproven") await evictUnprovenHolders(host, req.pluginName, requestId);
      host.audit({
        requestId: requestIdOf(context.values),
        event: "handshake",
        outcome: "success",
        actor: actorOf(caller),
        target: runtimeId,
        reason: `${req.pluginName} (name ${proof.method === "unproven" ? "unproven" : `proven by ${proof.method}`})`,
      });
      const log = proof.method === "unproven" ? host.logger.warn.bind(host.logger) : host.logger.info.bind(host.logger);
      log({ runtimeId, plugin: req.pluginName, version: req.pluginVersion, nameProof: proof.method }, "plugin admitted");
      return create(HandshakeResponseSchema, {
        runtimeId,
        runtimeToken: issued.token,
        tokenExpiresAt: timestampFromMs(issued.expiresAt),
        appProtocolVersion: version,
        coreProtocolVersion: CORE_PROTOCOL_VERSION,
        hostCapabilities: [...host.capabilityTypes],
        callerSigningKey: signingKey,
        hostId: host.hostId,
      });
    },

    async refreshToken(_req, context) {
      const caller = context.values.get(identityKey);
      if (caller?.kind !== "runtime" || caller.runtimeId === undefined || caller.credentialId === undefined)
        throw new ConnectError("refresh needs a runtime token", Code.Unauthenticated);
      const issued = await host.tokens.refresh(caller.credentialId, caller.runtimeId, host.runtimeTokenTtlMs);
      host.audit({ event: "token.refresh", outcome: "success", actor: actorOf(caller), target: caller.runtimeId, requestId: requestIdOf(context.values) });
      return create(RefreshTokenResponseSchema, {
        runtimeToken: issued.token,
        tokenExpiresAt: timestampFromMs(issued.expiresAt),
      });
    },

    async revoke(req, context) {
      const caller = context.values.get(identityKey);
      const target = req.runtimeId === "" ? caller?.runtimeId : req.runtimeId;
      if (target === undefined) throw invalid("runtime_id", "required for callers that are not runtimes");
      if (target !== caller?.runtimeId && !isAdmin(host.policy, caller)) {
        host.audit({ event: "token.revoke", outcome: "failure", actor: actorOf(caller), target, reason: "not admin", requestId: requestIdOf(context.values) });
        throw new ConnectError("only an admin may revoke another runtime", Code.PermissionDenied);
      }
      if (!(await host.store.removeRuntime(target, "revoked")))
        throw new ConnectError(`runtime ${target} not found`, Code.NotFound);
      host.audit({ event: "token.revoke", outcome: "success", actor: actorOf(caller), target, reason: req.reason.slice(0, 256), requestId: requestIdOf(context.values) });
      host.logger.info({ runtimeId: target }, "runtime revoked");
      return create(RevokeResponseSchema, {});
    },
  };
}
