/** AutoMTLS options, apart from the CA code so that validating them loads no X.509 library. */
import { trustDomainProblem } from "./spiffe-id.js";

export interface AutoTlsOptions {
  /** SPIFFE trust domain of the certificates. Default "plugboard.local". */
  trustDomain?: string;
  /** Lifetime of every leaf certificate (host and plugins); each is renewed at half-life. Default 24 h, minimum 2 s. */
  certTtlMs?: number;
  /** Extra DNS names or IP addresses for the host's server certificate (loopback names are always in it). */
  hostNames?: string[];
}

export const AUTO_TLS_DEFAULTS = { trustDomain: "plugboard.local", certTtlMs: 24 * 60 * 60 * 1000 } as const;
const MIN_CERT_TTL_MS = 2_000;

export function resolveAutoTlsOptions(options: AutoTlsOptions = {}): Required<AutoTlsOptions> {
  const trustDomain = options.trustDomain ?? AUTO_TLS_DEFAULTS.trustDomain;
  const problem = trustDomainProblem(trustDomain);
  if (problem !== undefined) throw new Error(`autoTls.trustDomain "${trustDomain}" is invalid: ${problem}`);
  const certTtlMs = options.certTtlMs ?? AUTO_TLS_DEFAULTS.certTtlMs;
  if (!Number.isFinite(certTtlMs) || certTtlMs < MIN_CERT_TTL_MS) throw new Error(`autoTls.certTtlMs must be at least ${MIN_CERT_TTL_MS} ms`);
  return { trustDomain, certTtlMs, hostNames: [...(options.hostNames ?? [])] };
}
