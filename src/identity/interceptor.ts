import type { X509Certificate } from "node:crypto";
import { createContextKey, type Interceptor } from "@connectrpc/connect";
import { type IdentityResolver, requireIdentity } from "./compose.js";
import { identityKey } from "./identity.js";

/** The TLS-verified client certificate, set from the node request in the adapter's contextValues. */
export const peerCertificateKey = createContextKey<X509Certificate | undefined>(undefined, {
  description: "verified TLS client certificate",
});

export interface IdentityInterceptorOptions {
  resolve: IdentityResolver;
  /** Methods callable without a credential ("/pkg.Service/Method" or "pkg.Service/*"). Credentials, if sent, are still checked. */
  publicMethods: ReadonlySet<string>;
}

/**
 * Server interceptor for every host RPC; connect-es runs server interceptors for
 * unary and all streaming kinds alike, so streams cannot bypass authentication.
 */
export function createIdentityInterceptor(options: IdentityInterceptorOptions): Interceptor {
  return (next) => async (req) => {
    const source = {
      headers: req.header,
      ...(() => {
        const cert = req.contextValues.get(peerCertificateKey);
        return cert ? { peerCertificate: cert } : {};
      })(),
    };
    const isPublic =
      options.publicMethods.has(`/${req.service.typeName}/${req.method.name}`) ||
      options.publicMethods.has(`${req.service.typeName}/*`);
    const identity = isPublic ? await options.resolve(source) : await requireIdentity(options.resolve, source);
    req.contextValues.set(identityKey, identity);
    return next(req);
  };
}
