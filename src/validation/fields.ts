import { Code, ConnectError } from "@connectrpc/connect";
import semver from "semver";

/**
 * Field validators. Each throws ConnectError(InvalidArgument) naming the field;
 * values are never echoed back, so a mistakenly pasted secret is not reflected.
 */

export function invalid(field: string, problem: string): ConnectError {
  return new ConnectError(`${field}: ${problem}`, Code.InvalidArgument);
}

const PLUGIN_NAME = /^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$/;
/** A fully qualified protobuf service name: package segments and the service, dot-separated. */
const SERVICE_TYPE = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$/;
const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;

function byteLength(value: string): number {
  return Buffer.byteLength(value, "utf8");
}

function checkLength(field: string, value: string, maxBytes: number): void {
  if (value.length === 0) throw invalid(field, "required");
  if (byteLength(value) > maxBytes) throw invalid(field, `longer than ${maxBytes} bytes`);
}

export function validatePluginName(field: string, value: string, maxBytes: number): void {
  checkLength(field, value, maxBytes);
  if (!PLUGIN_NAME.test(value)) throw invalid(field, "must be lowercase letters, digits, '.', '_' or '-'");
}

export function validateServiceType(field: string, value: string, maxBytes: number): void {
  checkLength(field, value, maxBytes);
  if (!SERVICE_TYPE.test(value)) throw invalid(field, "must be a fully qualified service name like pkg.v1.Service");
}

export function validateSecretName(field: string, value: string, maxBytes: number): void {
  checkLength(field, value, maxBytes);
  if (!SECRET_NAME.test(value) || value.split("/").some((s) => s === "" || s === "." || s === ".."))
    throw invalid(field, "must be letters, digits, '.', '_', '-' or '/'-separated segments");
}

export function validateVersion(field: string, value: string): string {
  if (value.length > 64 || semver.valid(value) === null) throw invalid(field, "must be a semver version");
  return value;
}

/** An empty range means any version. */
export function validateRange(field: string, value: string): string {
  if (value === "") return "*";
  if (value.length > 256 || semver.validRange(value) === null) throw invalid(field, "must be a semver range");
  return value;
}

export interface MetadataLimits {
  metadataEntries: number;
  metadataKeyBytes: number;
  metadataValueBytes: number;
}

export function validateMetadata(field: string, metadata: Record<string, string>, limits: MetadataLimits): void {
  const entries = Object.entries(metadata);
  if (entries.length > limits.metadataEntries) throw invalid(field, `more than ${limits.metadataEntries} entries`);
  for (const [key, value] of entries) {
    if (key.length === 0 || byteLength(key) > limits.metadataKeyBytes)
      throw invalid(field, `key must be 1..${limits.metadataKeyBytes} bytes`);
    if (byteLength(value) > limits.metadataValueBytes)
      throw invalid(field, `value of a key is longer than ${limits.metadataValueBytes} bytes`);
  }
}

export function validateCount(field: string, count: number, max: number): void {
  if (count > max) throw invalid(field, `more than ${max} entries`);
}
