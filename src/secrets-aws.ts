/** `plugboard/secrets/aws`: AWS Secrets Manager. Needs the optional peer @aws-sdk/client-secrets-manager. */
export { createAwsSecretProvider, type AwsProviderOptions } from "./secrets/aws.js";
export type { AwsProviderSettings } from "./secrets/aws-settings.js";
