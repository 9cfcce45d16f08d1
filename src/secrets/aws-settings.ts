/**
 * The AWS Secrets Manager provider's settings as plain data (config files, `createSecretProvider`).
 * Kept apart from aws.ts so these types do not pull @aws-sdk types into the root package's.
 */
export interface AwsProviderSettings {
  region: string;
  /** Override the service endpoint (VPC endpoint, LocalStack, a test server). */
  endpoint?: string;
  /** Static credentials; default the SDK's provider chain (env, profile, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Prepended to every name to form the SecretId (e.g. `prod/plugboard/`). */
  prefix?: string;
  /** Per-call deadline, retries included (default 5000 ms). */
  timeoutMs?: number;
  /** SDK attempts per call (default 3; throttling and 5xx are retried with backoff). */
  maxAttempts?: number;
}
