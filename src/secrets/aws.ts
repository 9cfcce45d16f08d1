import {
  GetSecretValueCommand,
  ListSecretsCommand,
  SecretsManagerClient,
  type GetSecretValueCommandInput,
} from "@aws-sdk/client-secrets-manager";
import { Code } from "@connectrpc/connect";
import { SecretError, secretNotFound, secretPermissionDenied, secretUnavailable } from "./errors.js";
import { isPlainObject, pickFromDocument, splitField } from "./fields.js";
import { resolveMany } from "./many.js";
import type { GetSecretOptions, SecretProvider, SecretValue } from "./types.js";
import type { AwsProviderSettings } from "./aws-settings.js";

export interface AwsProviderOptions extends AwsProviderSettings {
  /** Use an existing client instead (its endpoint/credentials options are then ignored). */
  client?: SecretsManagerClient;
}

const BACKEND = "aws secrets manager";
const MAX_LIST_ENTRIES = 10_000;
/** Names the SDK gives errors, by what they mean to us. */
const NOT_FOUND = new Set(["ResourceNotFoundException"]);
const DENIED = new Set([
  "AccessDeniedException",
  "AccessDenied",
  "UnrecognizedClientException",
  "InvalidSignatureException",
  "ExpiredTokenException",
  "DecryptionFailure",
]);
const THROTTLED = new Set(["ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"]);

/**
 * AWS Secrets Manager. A name is the SecretId (after `prefix`), optionally
 * `#field` to pick a key of a JSON SecretString. A version is a stage label
 * (`AWSCURRENT`, `AWSPREVIOUS`, `AWSPENDING`, or any label written `stage:<label>`)
 * or a VersionId; empty means AWSCURRENT. The version returned is the VersionId.
 */
export function createAwsSecretProvider(options: AwsProviderOptions): SecretProvider {
  if (!options.client && !options.region) throw new TypeError("aws secret provider needs a region");
  const prefix = options.prefix ?? "";
  const timeoutMs = options.timeoutMs ?? 5000;
  const client =
    options.client ??
    new SecretsManagerClient({
      region: options.region,
      maxAttempts: options.maxAttempts ?? 3,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
    });

  const send = async <T>(name: string | undefined, call: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    try {
      return await call(AbortSignal.timeout(timeoutMs));
    } catch (error) {
      throw mapAwsError(error, name);
    }
  };

  const get = async (name: string, opts: GetSecretOptions = {}): Promise<SecretValue> => {
    const { path, field } = splitField(name);
    const input: GetSecretValueCommandInput = { SecretId: prefix + path };
    const version = opts.version ?? "";
    if (version.startsWith("stage:")) input.VersionStage = version.slice("stage:".length);
    else if (/^AWS[A-Z]+$/.test(version)) input.VersionStage = version;
    else if (version) input.VersionId = version;
    const output = await send(name, (abortSignal) => client.send(new GetSecretValueCommand(input), { abortSignal }));
    const resolvedVersion = output.VersionId ?? "";
    if (output.SecretBinary !== undefined) {
      if (field !== undefined) throw secretNotFound(name, `field "${field}" not present (binary secret)`);
      return { name, version: resolvedVersion, value: new Uint8Array(output.SecretBinary) };
    }
    if (output.SecretString === undefined) throw secretNotFound(name, "version holds no value");
    if (field === undefined) return { name, version: resolvedVersion, value: new TextEncoder().encode(output.SecretString) };
    let document: unknown;
    try {
      document = JSON.parse(output.SecretString);
    } catch {
      document = undefined;
    }
    if (!isPlainObject(document)) throw secretNotFound(name, `field "${field}" not present (not a JSON object)`);
    return { name, version: resolvedVersion, value: pickFromDocument(name, document, field) };
  };

  return {
    kind: "aws",
    get,
    locate: (name) => `AWS Secrets Manager secret ${prefix}${name.split("#")[0]}`,
    async list() {
      const names: string[] = [];
      let nextToken: string | undefined;
      do {
        const page = await send(undefined, (abortSignal) =>
          client.send(new ListSecretsCommand({ MaxResults: 100, ...(nextToken ? { NextToken: nextToken } : {}) }), {
            abortSignal,
          }),
        );
        for (const entry of page.SecretList ?? []) {
          if (entry.Name?.startsWith(prefix)) names.push(entry.Name.slice(prefix.length));
        }
        nextToken = page.NextToken;
      } while (nextToken && names.length < MAX_LIST_ENTRIES);
      return names.sort();
    },
    getMany: (needs) => resolveMany(get, needs),
    async health() {
      try {
        await send(undefined, (abortSignal) => client.send(new ListSecretsCommand({ MaxResults: 1 }), { abortSignal }));
        return { ok: true };
      } catch (error) {
        return { ok: false, detail: (error as SecretError).rawMessage };
      }
    },
    async close() {
      if (!options.client) client.destroy();
    },
  };
}

/** SDK error → SecretError by error name only: AWS messages are not copied. */
export function mapAwsError(error: unknown, name: string | undefined): SecretError {
  const errorName = error instanceof Error ? error.name : "";
  const meta = (error as { $metadata?: { httpStatusCode?: number }; $fault?: string } | undefined) ?? {};
  const status = meta.$metadata?.httpStatusCode;
  if (NOT_FOUND.has(errorName)) return name ? secretNotFound(name) : new SecretError(`${BACKEND}: not found`, Code.NotFound);
  if (errorName === "InvalidRequestException" && name) {
    // Raised for secrets scheduled for deletion and versions without a value.
    return secretNotFound(name, "not readable (deleted or scheduled for deletion)");
  }
  if (DENIED.has(errorName) || status === 403) {
    return name ? secretPermissionDenied(name, BACKEND) : new SecretError(`${BACKEND} denied access`, Code.PermissionDenied);
  }
  if (THROTTLED.has(errorName) || status === 429) return secretUnavailable(name, BACKEND, "throttled");
  if (errorName === "TimeoutError" || errorName === "AbortError") return secretUnavailable(name, BACKEND, "timed out");
  if (errorName === "InvalidParameterException") {
    return new SecretError(`${name ? `secret "${name}": ` : ""}${BACKEND} rejected a parameter`, Code.InvalidArgument, name);
  }
  if (meta.$fault === "server" || (status !== undefined && status >= 500)) {
    return secretUnavailable(name, BACKEND, `server error${status ? ` ${status}` : ""}`);
  }
  if (status === undefined) return secretUnavailable(name, BACKEND, "cannot connect");
  return secretUnavailable(name, BACKEND, `unexpected ${errorName || "error"} (${status})`);
}
