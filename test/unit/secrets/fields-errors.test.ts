import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  SecretError,
  asSecretError,
  isTransient,
  secretInvalidName,
  secretNotFound,
  secretPermissionDenied,
  secretUnavailable,
} from "../../../src/secrets/errors.js";
import { MAX_SECRET_NAME_LENGTH, checkName, encodeValue, isPlainObject, pickFromDocument, splitField } from "../../../src/secrets/fields.js";
import { text } from "../../helpers/secrets.js";

/** The SecretError a synchronous call throws. */
function thrown(fn: () => unknown): SecretError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SecretError);
    return error as SecretError;
  }
  throw new Error("expected a throw");
}

describe("secret names and fields", () => {
  it("splits path#field at the first '#', and refuses an empty side naming the rule", () => {
    expect(splitField("a")).toEqual({ path: "a" });
    expect(splitField("a#b")).toEqual({ path: "a", field: "b" });
    expect(splitField("a#b#c")).toEqual({ path: "a", field: "b#c" });
    for (const name of ["#b", "a#", "#"]) {
      const error = thrown(() => splitField(name));
      expect(error).toMatchObject({ code: Code.InvalidArgument, secretName: name });
      expect(error.rawMessage).toBe(`invalid secret name ${JSON.stringify(name)}: empty path or field around '#'`);
    }
  });

  it("accepts names up to the length limit and refuses one character more", () => {
    expect(MAX_SECRET_NAME_LENGTH).toBe(512);
    expect(() => checkName("a".repeat(512))).not.toThrow();
    const error = thrown(() => checkName("a".repeat(513)));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toBe(`invalid secret name ${JSON.stringify("a".repeat(200))}: longer than 512`);
  });

  it("refuses empty names, non-strings, control characters and lone surrogates with the reason", () => {
    expect(thrown(() => checkName("")).rawMessage).toBe('invalid secret name "": empty');
    expect(thrown(() => checkName(undefined as never)).rawMessage).toBe('invalid secret name "undefined": empty');
    expect(thrown(() => checkName(7 as never)).rawMessage).toBe('invalid secret name "7": empty');
    for (const bad of ["a\u0000b", "a\nb", "\u001f", "x\u007f"]) {
      expect(thrown(() => checkName(bad)).rawMessage).toMatch(/: control characters$/);
    }
    expect(() => checkName("a\u0020b~\u0080")).not.toThrow();
    expect(thrown(() => checkName("a\ud800")).rawMessage).toMatch(/: not well-formed Unicode$/);
    expect(thrown(() => checkName("\udc00b")).rawMessage).toMatch(/: not well-formed Unicode$/);
    expect(() => checkName("emoji-\u{1f511}")).not.toThrow();
  });

  it("encodes strings as UTF-8, scalars as their text, bytes as they are and structures as JSON", () => {
    const bytes = new Uint8Array([1, 2, 255]);
    expect(encodeValue(bytes)).toBe(bytes);
    expect(text(encodeValue("é"))).toBe("é");
    expect(text(encodeValue(42))).toBe("42");
    expect(text(encodeValue(false))).toBe("false");
    // Numbers JSON has no form for (YAML's .nan and .inf) keep their text.
    expect(text(encodeValue(Number.NaN))).toBe("NaN");
    expect(text(encodeValue(-Infinity))).toBe("-Infinity");
    expect(text(encodeValue(10n ** 20n))).toBe("100000000000000000000");
    expect(text(encodeValue({ a: [1, "x"] }))).toBe('{"a":[1,"x"]}');
    expect(text(encodeValue(null))).toBe("null");
  });

  it("picks a field, refusing an absent, null or inherited one by name without its value", () => {
    const doc = { user: "app", nothing: null, zero: 0, empty: "", obj: { k: "v" } };
    expect(text(pickFromDocument("n", doc, "user"))).toBe("app");
    expect(text(pickFromDocument("n", doc, "zero"))).toBe("0");
    expect(text(pickFromDocument("n", doc, "empty"))).toBe("");
    expect(text(pickFromDocument("n", doc, "obj"))).toBe('{"k":"v"}');
    for (const field of ["missing", "nothing", "toString", "__proto__"]) {
      const error = thrown(() => pickFromDocument("n#x", doc, field));
      expect(error).toMatchObject({ code: Code.NotFound, secretName: "n#x" });
      expect(error.rawMessage).toBe(`secret "n#x": field "${field}" not present`);
    }
    const withUndefined: Record<string, unknown> = { u: undefined };
    expect(thrown(() => pickFromDocument("n", withUndefined, "u")).code).toBe(Code.NotFound);
  });

  it("without a field: a lone `value` key is the value, anything else the document as JSON", () => {
    expect(text(pickFromDocument("n", { value: "only" }, undefined))).toBe("only");
    expect(text(pickFromDocument("n", { value: 5 }, undefined))).toBe("5");
    expect(text(pickFromDocument("n", { other: "x" }, undefined))).toBe('{"other":"x"}');
    expect(text(pickFromDocument("n", { value: "v", more: "m" }, undefined))).toBe('{"value":"v","more":"m"}');
    expect(text(pickFromDocument("n", {}, undefined))).toBe("{}");
  });

  it("tells plain objects from arrays, bytes, null and scalars", () => {
    expect(isPlainObject({})).toBe(true);
    expect(isPlainObject(Object.create(null))).toBe(true);
    for (const not of [null, undefined, [], new Uint8Array(1), "x", 1, true]) expect(isPlainObject(not)).toBe(false);
  });
});

describe("secret errors", () => {
  it("SecretError is a ConnectError, and only its own instances are SecretErrors", () => {
    const error = new SecretError("m", Code.NotFound, "n");
    expect(error).toBeInstanceOf(ConnectError);
    expect(error).toBeInstanceOf(SecretError);
    expect(error.name).toBe("ConnectError");
    expect(new ConnectError("m", Code.NotFound)).not.toBeInstanceOf(SecretError);
    for (const not of [null, undefined, "SecretError", 1, {}, { rawMessage: "m", code: Code.NotFound }]) {
      expect(not instanceof SecretError).toBe(false);
    }
    expect(Object.create(SecretError.prototype) instanceof SecretError).toBe(true);
  });

  it("builds messages that name the secret and the backend, and carry the name", () => {
    expect(secretNotFound("n")).toMatchObject({ rawMessage: 'secret "n": not found', code: Code.NotFound, secretName: "n" });
    expect(secretNotFound("n", "why").rawMessage).toBe('secret "n": why');
    expect(secretPermissionDenied("n", "vault")).toMatchObject({
      rawMessage: 'secret "n": vault denied access',
      code: Code.PermissionDenied,
      secretName: "n",
    });
    expect(secretUnavailable("n", "vault", "down")).toMatchObject({
      rawMessage: 'secret "n": vault unavailable: down',
      code: Code.Unavailable,
      secretName: "n",
    });
    const unnamed = secretUnavailable(undefined, "vault", "down");
    expect(unnamed.rawMessage).toBe("vault unavailable: down");
    expect(unnamed.secretName).toBeUndefined();
    expect(secretUnavailable("", "b", "w").rawMessage).toBe('secret "": b unavailable: w');
    const long = "x".repeat(300);
    expect(secretInvalidName(long, "why")).toMatchObject({
      rawMessage: `invalid secret name "${"x".repeat(200)}": why`,
      code: Code.InvalidArgument,
      secretName: long,
    });
  });

  it("counts only outage codes (and non-connect errors) as transient", () => {
    expect(isTransient(new Error("boom"))).toBe(true);
    expect(isTransient("boom")).toBe(true);
    for (const code of [Code.Unavailable, Code.DeadlineExceeded, Code.Internal, Code.Unknown, Code.ResourceExhausted]) {
      expect(isTransient(new ConnectError("x", code)), Code[code]).toBe(true);
    }
    for (const code of [Code.NotFound, Code.PermissionDenied, Code.InvalidArgument, Code.Unauthenticated, Code.FailedPrecondition]) {
      expect(isTransient(new ConnectError("x", code)), Code[code]).toBe(false);
    }
  });

  it("turns anything a backend throws into a SecretError without copying a foreign message", () => {
    const own = new SecretError("mine", Code.NotFound, "a");
    expect(asSecretError(own, "b", "vault")).toBe(own);
    const foreign = asSecretError(new ConnectError("remote said no", Code.PermissionDenied), "n", "vault");
    expect(foreign).toBeInstanceOf(SecretError);
    expect(foreign).toMatchObject({ rawMessage: "remote said no", code: Code.PermissionDenied, secretName: "n" });
    const plain = asSecretError(new Error("echoed sk-secret-value"), "n", "vault");
    expect(plain).toMatchObject({ rawMessage: 'secret "n": vault unavailable: unexpected failure', code: Code.Unavailable });
    expect(plain.message).not.toContain("sk-secret-value");
  });
});
