import { requestIdOf } from "../audit/request-id.js";
import { provenName } from "../identity/name-proof.js";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  DiscoverResponseSchema,
  RegisterResponseSchema,
  RegistryService,
  UnregisterResponseSchema,
  WatchEventType,
  WatchResponseSchema,
} from "../../gen/plugboard/v1/registry_pb.js";
import { actorOf } from "../audit/audit.js";
import { validProtocols } from "./protocols.js";
import type { HostContext } from "../host/context.js";
import { identityKey, type Identity } from "../identity/identity.js";
import { isAdmin } from "../policy/host-policy.js";
import type { RegistrationRecord } from "../store/types.js";
import { randomId } from "../tokens/tokens.js";
import { invalid, validateMetadata, validateRange, validateServiceType, validateVersion } from "../validation/fields.js";
import { validateEndpointWithin } from "../validation/urls.js";
import { toRegistration } from "./convert.js";
import type { Leases } from "../lifecycle/leases.js";
import { byRegistrationId, createSelector, providerFilter } from "./select.js";
import { discoverPage } from "./discover-page.js";
import { BoundedQueue } from "./watch-queue.js";
import { createWatchHub, type FannedEvent } from "./watch-hub.js";
import { isBinaryCodec } from "./encoded-once.js";
import { directStreamOf } from "./direct-frames.js";
import { forwardFrames } from "./forward-frames.js";
import { validateMetadataTotal } from "../admission/index.js";
import { chunk, pageLimitsOf, registrationWireBytes } from "../paging/index.js";

const MAX_WEIGHT = 10_000;


function runtimeCaller(context: HandlerContext): Identity & { runtimeId: string } {
  const caller = context.values.get(identityKey);
  if (caller?.kind !== "runtime" || caller.runtimeId === undefined)
    throw new ConnectError("only a plugin runtime may do this", Code.PermissionDenied);
  return caller as Identity & { runtimeId: string };
}

export function createRegistryService(host: HostContext, leases?: Leases): ServiceImpl<typeof RegistryService> {
  const selector = createSelector();
  const watchers = new Map<string, number>();
  const hub = createWatchHub(host.store);

  return {
    async register(req, context) {
      const caller = runtimeCaller(context);
      validateServiceType("service_type", req.serviceType, host.limits.nameBytes);
      const runtime = await host.store.getRuntime(caller.runtimeId);
      if (!runtime) throw new ConnectError("runtime ended", Code.Unauthenticated);
      const declared = runtime.provides.find((p) => p.type === req.serviceType);
      const deny = (reason: string) => {
        host.audit({ event: "registration", outcome: "failure", actor: actorOf(caller), target: req.serviceType, reason, requestId: requestIdOf(context.values) });
        return new ConnectError(reason, Code.PermissionDenied);
      };
      if (!declared) throw deny(`${req.serviceType} was not declared in provides at handshake`);
      const name = provenName(runtime);
      if (host.policy.mayProvide && (name === undefined || !host.policy.mayProvide(name, req.serviceType)))
        throw deny(`host policy does not allow ${runtime.pluginName} to provide ${req.serviceType}${name === undefined ? " (name not proven)" : ""}`);
      const version = req.version === "" ? declared.version : validateVersion("version", req.version);
      if (version !== declared.version) throw invalid("version", "must equal the version declared at handshake");
      if (runtime.baseUrl === "") throw new ConnectError("runtime declared no base_url", Code.FailedPrecondition);
      const endpoint = validateEndpointWithin("endpoint", req.endpoint === "" ? runtime.baseUrl : req.endpoint, runtime.baseUrl);
      validateMetadata("metadata", req.metadata, host.limits);
      validateMetadataTotal("metadata", req.metadata, host.limits.registrationMetadataBytes);
      if (req.weight > MAX_WEIGHT) throw invalid("weight", `at most ${MAX_WEIGHT}`);

      // Registering the same service at the same endpoint again updates it in place (idempotent retries).
      // Only the runtime's own registrations are read: a Register call must not cost a read of the whole service type.
      const existing = (await host.store.listRuntimeRegistrations(runtime.runtimeId)).find(
        (r) => r.serviceType === req.serviceType && r.endpoint === endpoint,
      );
      if (!existing) await host.admission.registrationSlot(runtime.runtimeId, req.serviceType, requestIdOf(context.values));
      const record: RegistrationRecord = {
        registrationId: existing?.registrationId ?? randomId("rg_", host.random),
        serviceType: req.serviceType,
        version,
        runtimeId: runtime.runtimeId,
        pluginName: runtime.pluginName,
        endpoint,
        metadata: { ...req.metadata },
        weight: req.weight,
        health: runtime.health,
        ...(req.protocols.length > 0 ? { protocols: validProtocols(req.protocols) } : {}),
      };
      if (req.fileDescriptorSet.length > 0) {
        if (req.fileDescriptorSet.length > host.limits.descriptorSetBytes) {
          throw invalid("file_descriptor_set", `at most ${host.limits.descriptorSetBytes} bytes (limit descriptorSetBytes)`);
        }
        host.descriptors.addSet(record.registrationId, req.serviceType, req.fileDescriptorSet);
      }
      // The lease first: a registration must never sit in the store without one.
      await leases?.renew(runtime.runtimeId);
      await host.store.putRegistration(record);
      host.audit({ event: "registration", outcome: "success", actor: actorOf(caller), target: req.serviceType, requestId: requestIdOf(context.values) });
      return create(RegisterResponseSchema, { registration: toRegistration(record), leaseMs: leases?.leaseMs ?? 0 });
    },

    async unregister(req, context) {
      const caller = context.values.get(identityKey);
      if (req.registrationId === "" || req.registrationId.length > 64) throw invalid("registration_id", "required");
      const registration = await host.store.getRegistration(req.registrationId);
      if (!registration) throw new ConnectError("registration not found", Code.NotFound);
      if (registration.runtimeId !== caller?.runtimeId && !isAdmin(host.policy, caller)) {
        host.audit({ event: "unregistration", outcome: "failure", actor: actorOf(caller), target: req.registrationId, reason: "not owner", requestId: requestIdOf(context.values) });
        throw new ConnectError("a plugin may only unregister its own registrations", Code.PermissionDenied);
      }
      await host.store.removeRegistration(req.registrationId, "unregistered");
      host.audit({ event: "unregistration", outcome: "success", actor: actorOf(caller), target: req.registrationId, requestId: requestIdOf(context.values) });
      return create(UnregisterResponseSchema, {});
    },

    async discover(req) {
      validateServiceType("service_type", req.serviceType, host.limits.nameBytes);
      const range = validateRange("version_range", req.versionRange);
      const matches = providerFilter(range, req.includeUnhealthy);
      const type = req.serviceType;
      // The strategy picks once per listing, on the first page, by rank in the store's order (see pickFrom).
      const selected =
        req.pageToken === ""
          ? await selector.pickFrom(
              type,
              {
                count: () => host.store.countRegistrations({ serviceType: type }),
                at: (offset, limit) => host.store.registrationsAt(type, offset, limit),
                matches,
                allMatching: async () => (await host.store.listRegistrations(type)).filter(matches).sort(byRegistrationId),
              },
              req.strategy,
            )
          : undefined;
      const reserved = selected ? registrationWireBytes(selected) : 0;
      const filters = `${range}\0${req.includeUnhealthy}`;
      const page = await discoverPage(host.store, type, matches, req, pageLimitsOf(host.limits), reserved, filters);
      return create(DiscoverResponseSchema, {
        providers: page.items.map(toRegistration),
        ...(selected ? { selected: toRegistration(selected) } : {}),
        nextPageToken: page.nextPageToken,
      });
    },

    async *watch(req, context) {
      const caller = context.values.get(identityKey)!;
      if (req.serviceTypes.length > host.limits.declarations) throw invalid("service_types", "too many");
      req.serviceTypes.forEach((t, i) => validateServiceType(`service_types[${i}]`, t, host.limits.nameBytes));
      const active = watchers.get(caller.subject) ?? 0;
      if (active >= host.limits.watchersPerRuntime)
        throw new ConnectError(`at most ${host.limits.watchersPerRuntime} watch streams per caller`, Code.ResourceExhausted);
      watchers.set(caller.subject, active + 1);

      const wanted = new Set(req.serviceTypes);
      const relevant = (r: RegistrationRecord) => wanted.size === 0 || wanted.has(r.serviceType);
      // Binary streams get the event's message encoded once for all of them (see encoded-once.ts).
      const binary = isBinaryCodec(context.requestHeader.get("content-type"));
      const queue = new BoundedQueue<FannedEvent>(host.limits.watchBuffer);
      // Watch before reading the snapshot so no change falls between the two. Events that happened before
      // the snapshot was read (seq below snapshotAt) may already be in it: their first ADDED is dropped.
      const unsubscribe = hub.add({
        serviceTypes: req.serviceTypes,
        runtimeId: caller.runtimeId,
        deliver: (fanned) => queue.push(fanned),
        runtimeEnded: () => queue.fail(new ConnectError("the watching runtime ended", Code.Unauthenticated)),
      });
      const onAbort = () => queue.end();
      context.signal.addEventListener("abort", onAbort);
      try {
        const snapshot = (await host.store.listRegistrations()).filter(relevant);
        const snapshotAt = hub.position();
        const inSnapshot = new Set(snapshot.map((r) => r.registrationId));
        // Several messages when needed, so no snapshot outgrows the message limit; the last says it is complete.
        const { maxPageSize, pageBytes } = pageLimitsOf(host.limits);
        const parts = chunk(snapshot, registrationWireBytes, maxPageSize, pageBytes);
        for (const [i, part] of parts.entries())
          yield create(WatchResponseSchema, {
            type: WatchEventType.SNAPSHOT,
            registrations: part.map(toRegistration),
            snapshotComplete: i === parts.length - 1,
          });
        // Once per registration: an ADDED that follows a REMOVED of the same one is news again.
        const isNews = ({ event, seq }: FannedEvent) =>
          !(event.type === "added" && seq < snapshotAt && inSnapshot.delete(event.registration.registrationId));
        // Binary HTTP/2 streams get each event as ready-made frames written straight to the stream (see
        // forwardFrames); the rest through connect-es. The stream ends through connect-es either way.
        const direct = directStreamOf(context);
        if (direct) await forwardFrames(queue, direct, isNews, host.limits.maxMessageBytes);
        else yield* queue.drain((fanned) => (isNews(fanned) ? fanned.message(binary) : undefined));
      } finally {
        unsubscribe();
        context.signal.removeEventListener("abort", onAbort);
        const left = (watchers.get(caller.subject) ?? 1) - 1;
        if (left <= 0) watchers.delete(caller.subject);
        else watchers.set(caller.subject, left);
      }
    },
  };
}
