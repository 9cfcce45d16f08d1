import type { Identity } from "../identity/identity.js";

/**
 * The host application itself, as a caller of its plugins: providers see `sub: "host"`, `m: "host"`
 * in the signed caller header. It holds no token and cannot be impersonated from outside: the
 * identity is only ever built here, in-process.
 */
export const HOST_CALLER: Identity = Object.freeze({ kind: "external", subject: "host", method: "host", roles: Object.freeze([]) as readonly string[] });
