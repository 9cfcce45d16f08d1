import { FIELD_OVERHEAD } from "../paging/wire-size.js";

interface CheckedLimits {
  maxMessageBytes: number;
  nameBytes: number;
  urlBytes: number;
  registrationsPerRuntime: number;
  registrationMetadataBytes: number;
  pageSize: number;
  maxPageSize: number;
}

/**
 * Limits that only work together, checked at start-up: every answer is split into pages of at most half
 * the message limit, and one runtime with all its registrations (ListRuntimes) cannot be split further.
 */
export function checkAdmissionLimits(limits: CheckedLimits): void {
  const registration = limits.registrationMetadataBytes + 2 * limits.nameBytes + limits.urlBytes + 3 * 64 + 10 * FIELD_OVERHEAD;
  const runtime = limits.registrationsPerRuntime * (registration + FIELD_OVERHEAD) + 2 * limits.nameBytes + 64 + 6 * FIELD_OVERHEAD;
  if (runtime > limits.maxMessageBytes / 2)
    throw new Error(
      "createPluginHost: a runtime's registrations (limits.registrationsPerRuntime × limits.registrationMetadataBytes, " +
        `about ${runtime} bytes) must fit in half of limits.maxMessageBytes`,
    );
  if (limits.pageSize > limits.maxPageSize) throw new Error("createPluginHost: limits.pageSize must not exceed limits.maxPageSize");
}
