import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { Logger } from "../log/logger.js";
import type { HostPolicy } from "../policy/host-policy.js";
import type { DEFAULT_LIMITS } from "../protocol/constants.js";
import type { Store } from "../store/types.js";
import type { RandomSource, TokenService } from "../tokens/tokens.js";
import type { LaunchSecrets } from "../handshake/launch-secrets.js";
import type { AuditSink } from "../audit/audit.js";
import type { Enrolments } from "../enrolment/enrolment.js";
import type { SecretAdmission } from "../secrets/admission.js";
import type { Admission } from "../admission/index.js";
import type { DescriptorPool } from "../reflection/pool.js";

export type Limits = { -readonly [K in keyof typeof DEFAULT_LIMITS]: number };

/** A host-provided Connect service that plugins reach through a broker grant. */
export interface Capability<S extends DescService = DescService> {
  service: S;
  impl: Partial<ServiceImpl<S>>;
}

/** Everything the host's services share; built once by createPluginHost. */
export interface HostContext {
  hostId: string;
  store: Store;
  tokens: TokenService;
  policy: HostPolicy;
  limits: Limits;
  logger: Logger;
  audit: AuditSink;
  random: RandomSource;
  now: () => number;
  magicCookie: { key: string; value: string };
  /** Versions of the host application's protocol the host speaks (semver). */
  appProtocolVersions: string[];
  runtimeTokenTtlMs: number;
  grantTtlMs: number;
  allowedEndpointHosts: string[];
  launchSecrets: LaunchSecrets;
  requireLaunchSecret: boolean;
  /** Name-bound bootstrap credentials for plugins started outside the host. */
  enrolments: Enrolments;
  /** Development opt-in: admit runtimes that prove no name, marked unproven. */
  allowUnprovenNames: boolean;
  /** Whether policy, RBAC or runtime roles bind something to this name (unproven runtimes may not take it). */
  nameIsBound(name: string): boolean;
  capabilityTypes: ReadonlySet<string>;
  /** Refuses a handshake whose required secrets the host cannot serve (see secrets/admission.ts). */
  admitSecrets: SecretAdmission;
  /** Handshake rate per peer and caps on runtimes and registrations. */
  admission: Admission;
  /** Descriptors served over gRPC reflection (host services, registrations that carried a set). */
  descriptors: DescriptorPool;
}
