/**
 * AutoMTLS renewal, plugin side: at half of the certificate's remaining life the plugin makes a
 * new key, sends the host a PKCS#10 request (the key never leaves the plugin) and swaps the
 * certificate in place. A failed attempt is retried at half of what is left then.
 */
import { X509Certificate } from "node:crypto";
import type { Logger } from "../log/logger.js";
import type { AutoTlsCredentials } from "./options.js";

export interface RenewalOptions {
  credentials: AutoTlsCredentials;
  /** Asks the host to sign the request (LifecycleService.RenewCertificate); returns the certificate PEM. */
  sign(csrPem: string): Promise<string>;
  /** Called after `credentials` hold the new certificate and key. */
  onRenewed(notAfter: Date): void;
  logger: Logger;
}

/**
 * The exact subjectAltName of the AutoMTLS host's client certificate (its SPIFFE ID alone), for the
 * trust domain of this plugin's own certificate `spiffe://<td>/plugin/<name>`.
 */
export function hostSubjectAltName(ownCertPem: string): string {
  const trustDomain = /URI:spiffe:\/\/([a-z0-9._-]+)\/plugin\//.exec(new X509Certificate(ownCertPem).subjectAltName ?? "")?.[1];
  if (trustDomain === undefined) throw new Error("createPlugin: the AutoMTLS certificate carries no spiffe://<trust domain>/plugin/<name> ID");
  return `URI:spiffe://${trustDomain}/host`;
}

/** Below this remaining lifetime renewal stops trying: the certificate is as good as expired. */
const GIVE_UP_MS = 500;

export function startCertificateRenewal(options: RenewalOptions): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const notAfter = () => new Date(new X509Certificate(options.credentials.cert).validTo).getTime();

  function schedule() {
    if (stopped) return;
    const remaining = notAfter() - Date.now();
    if (remaining < GIVE_UP_MS) {
      options.logger.error("AutoMTLS certificate expired without renewal; new connections to and from the host will fail");
      return;
    }
    timer = setTimeout(() => void renew(), remaining / 2);
    timer.unref();
  }

  async function renew() {
    try {
      // Loaded only here: plugins without AutoMTLS never load the X.509 library.
      const { createCertificateRequest } = await import("../identity/certs.js");
      const { csrPem, keyPem } = await createCertificateRequest();
      const certPem = await options.sign(csrPem);
      if (stopped) return;
      options.credentials.cert = certPem;
      options.credentials.key = keyPem;
      const until = new Date(notAfter());
      options.onRenewed(until);
      options.logger.info({ notAfter: until.toISOString() }, "AutoMTLS certificate renewed");
    } catch (e) {
      options.logger.warn({ err: String(e) }, "AutoMTLS certificate renewal failed; retrying");
    }
    schedule();
  }

  schedule();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
