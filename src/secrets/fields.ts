import { secretInvalidName, secretNotFound } from "./errors.js";

/** Longest secret name accepted by any provider. */
export const MAX_SECRET_NAME_LENGTH = 512;

const encoder = new TextEncoder();

/**
 * Backends hold key/value documents (Vault KV, JSON in AWS SM, a JSON/YAML file).
 * A name `path#field` selects one field of the document at `path`.
 */
export function splitField(name: string): { path: string; field?: string } {
  checkName(name);
  const hash = name.indexOf("#");
  if (hash < 0) return { path: name };
  const path = name.slice(0, hash);
  const field = name.slice(hash + 1);
  if (!path || !field) throw secretInvalidName(name, "empty path or field around '#'");
  return { path, field };
}

export function checkName(name: string): void {
  if (typeof name !== "string" || name.length === 0) throw secretInvalidName(String(name), "empty");
  if (name.length > MAX_SECRET_NAME_LENGTH) throw secretInvalidName(name, `longer than ${MAX_SECRET_NAME_LENGTH}`);
  // Control characters would let a name forge log lines or header values.
  if (/[\u0000-\u001f\u007f]/.test(name)) throw secretInvalidName(name, "control characters");
  // A lone surrogate becomes U+FFFD in UTF-8 (paths, URLs, protobuf): two names would reach one secret.
  if (/\p{Surrogate}/u.test(name)) throw secretInvalidName(name, "not well-formed Unicode");
}

/** Strings as UTF-8, scalars as their text, structures as JSON. */
export function encodeValue(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return encoder.encode(value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
    return encoder.encode(String(value));
  }
  return encoder.encode(JSON.stringify(value));
}

/**
 * Picks what a name means inside a key/value document: the field when one is
 * named, else a lone `value` field, else the whole document as JSON.
 */
export function pickFromDocument(name: string, document: Record<string, unknown>, field: string | undefined): Uint8Array {
  if (field !== undefined) {
    if (!Object.hasOwn(document, field) || document[field] === null || document[field] === undefined) {
      throw secretNotFound(name, `field "${field}" not present`);
    }
    return encodeValue(document[field]);
  }
  const keys = Object.keys(document);
  if (keys.length === 1 && keys[0] === "value") return encodeValue(document["value"]);
  return encodeValue(document);
}

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
