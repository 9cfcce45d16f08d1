import { expect } from "vitest";
import { SecretError } from "../../src/secrets/index.js";

export const text = (value: Uint8Array) => new TextDecoder().decode(value);

/** Resolves with the SecretError a promise rejects with; fails the test if it resolves or rejects otherwise. */
export async function failure(promise: Promise<unknown>): Promise<SecretError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(SecretError);
    return error as SecretError;
  }
  throw new Error("expected a failure");
}
