import { Code, ConnectError } from "@connectrpc/connect";

/**
 * A failure reading a secret. It is a ConnectError so it can cross a public
 * boundary as is; messages name the secret and the backend, never a value,
 * a token or a raw backend response body.
 */
export class SecretError extends ConnectError {
  // `name` stays "ConnectError": ConnectError's own instanceof check relies on it,
  // and connect must still recognise this error (else it would answer Internal).
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && Object.prototype.isPrototypeOf.call(SecretError.prototype, value);
  }
  constructor(
    message: string,
    code: Code,
    /** The secret concerned, when there is one. */
    readonly secretName?: string,
  ) {
    super(message, code);
  }
}

export const secretNotFound = (name: string, why = "not found") =>
  new SecretError(`secret "${name}": ${why}`, Code.NotFound, name);

export const secretPermissionDenied = (name: string, backend: string) =>
  new SecretError(`secret "${name}": ${backend} denied access`, Code.PermissionDenied, name);

export const secretUnavailable = (name: string | undefined, backend: string, why: string) =>
  new SecretError(
    name === undefined ? `${backend} unavailable: ${why}` : `secret "${name}": ${backend} unavailable: ${why}`,
    Code.Unavailable,
    name,
  );

export const secretInvalidName = (name: string, why: string) =>
  new SecretError(`invalid secret name ${JSON.stringify(name.slice(0, 200))}: ${why}`, Code.InvalidArgument, name);

/** Codes that mean "the backend could not answer", as opposed to an authoritative answer. */
export function isTransient(error: unknown): boolean {
  if (!(error instanceof ConnectError)) return true;
  return (
    error.code === Code.Unavailable ||
    error.code === Code.DeadlineExceeded ||
    error.code === Code.Internal ||
    error.code === Code.Unknown ||
    error.code === Code.ResourceExhausted
  );
}

/** Turns anything thrown by a backend into a SecretError without copying its message (it may echo data). */
export function asSecretError(error: unknown, name: string | undefined, backend: string): SecretError {
  if (error instanceof SecretError) return error;
  if (error instanceof ConnectError) return new SecretError(error.rawMessage, error.code, name);
  return secretUnavailable(name, backend, "unexpected failure");
}
