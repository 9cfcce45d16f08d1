import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { createSecretAdmission, refuseRequiredSecrets } from "../../../src/secrets/admission.js";
import { SecretError, secretInvalidName, secretNotFound, secretUnavailable } from "../../../src/secrets/errors.js";
import { resolveMany } from "../../../src/secrets/many.js";
import type { SecretNeed, SecretProvider, SecretValue } from "../../../src/secrets/types.js";

const need = (name: string, extra: Partial<SecretNeed> = {}): SecretNeed => ({ name, version: "", optional: false, ...extra });

/** A provider answering per name: a value, or an error to throw. Records what was asked. */
function provider(answers: Record<string, string | Error>, locate?: (name: string) => string) {
  const asked: [string, unknown][] = [];
  const handed: Uint8Array[] = [];
  const p: SecretProvider = {
    kind: "stub",
    async get(name, options) {
      asked.push([name, options]);
      const answer = answers[name];
      if (answer === undefined) throw secretNotFound(name);
      if (answer instanceof Error) throw answer;
      const value: SecretValue = { name, version: "1", value: new TextEncoder().encode(answer) };
      handed.push(value.value);
      return value;
    },
    list: async () => Object.keys(answers),
    getMany: (needs) => resolveMany(p.get, needs),
    health: async () => ({ ok: true }),
    ...(locate ? { locate } : {}),
  };
  return { p, asked, handed };
}

async function refusal(promise: Promise<void>): Promise<ConnectError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConnectError);
  return error as ConnectError;
}

describe("secret admission", () => {
  it("admits a plugin whose required secrets exist, zeroing the values it read, and never asks for optional ones", async () => {
    const { p, asked, handed } = provider({ a: "va", b: "vb" });
    await expect(createSecretAdmission(p)("plug", [need("a"), need("b", { version: "3" }), need("c", { optional: true })])).resolves.toBeUndefined();
    expect(asked).toEqual([
      ["a", {}],
      ["b", { version: "3" }],
    ]);
    expect(handed.every((v) => v.every((byte) => byte === 0))).toBe(true);
    await expect(createSecretAdmission(p)("plug", [])).resolves.toBeUndefined();
  });

  it("refuses missing required secrets with FailedPrecondition naming each and where the provider looked", async () => {
    const located = provider({ a: "va" }, (name) => `file /run/secrets/${name}`);
    const one = await refusal(createSecretAdmission(located.p)("plug", [need("a"), need("x")]));
    expect(one.code).toBe(Code.FailedPrecondition);
    expect(one.rawMessage).toBe(
      'required secret not available: "x" (looked in file /run/secrets/x); provide it to the host or declare it optional',
    );
    const two = await refusal(createSecretAdmission(located.p)("plug", [need("x", { version: "2" }), need("y")]));
    expect(two.rawMessage).toBe(
      'required secrets not available: "x" version "2" (looked in file /run/secrets/x); "y" (looked in file /run/secrets/y); provide it to the host or declare it optional',
    );
    const plain = provider({});
    expect((await refusal(createSecretAdmission(plain.p)("plug", [need("x")]))).rawMessage).toBe(
      'required secret not available: "x" (looked in the stub secret provider); provide it to the host or declare it optional',
    );
  });

  it("a provider that cannot answer is Unavailable naming the first such secret, unless a secret is proven missing", async () => {
    const { p } = provider({
      down: secretUnavailable("down", "stub", "outage"),
      down2: secretUnavailable("down2", "stub", "outage"),
      boom: new Error("raw failure with sk-value"),
      denied: new SecretError('secret "denied": stub denied access', Code.PermissionDenied, "denied"),
    });
    const admit = createSecretAdmission(p);
    const outage = await refusal(admit("plug", [need("down"), need("down2")]));
    expect(outage.code).toBe(Code.Unavailable);
    expect(outage.rawMessage).toBe('secret provider (stub) could not be asked for required secret "down"; try again');
    const raw = await refusal(admit("plug", [need("boom")]));
    expect(raw.rawMessage).toBe('secret provider (stub) could not be asked for required secret "boom"; try again');
    expect(raw.message).not.toContain("sk-value");
    expect((await refusal(admit("plug", [need("denied")]))).code).toBe(Code.Unavailable);
    // Proven absence wins over an outage of another secret.
    expect((await refusal(admit("plug", [need("down"), need("missing")]))).code).toBe(Code.FailedPrecondition);
  });

  it("a malformed name is InvalidArgument with the provider's reason; a foreign InvalidArgument is an outage", async () => {
    const { p } = provider({
      "bad name": secretInvalidName("bad name", "no spaces"),
      foreign: new ConnectError("foreign", Code.InvalidArgument),
    });
    const admit = createSecretAdmission(p);
    const bad = await refusal(admit("plug", [need("bad name")]));
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(bad.rawMessage).toBe('secrets: invalid secret name "bad name": no spaces');
    expect((await refusal(admit("plug", [need("foreign")]))).code).toBe(Code.Unavailable);
  });
});

describe("refuseRequiredSecrets (a host without secrets)", () => {
  it("admits plugins with only optional needs and refuses required ones by name", async () => {
    await expect(refuseRequiredSecrets("plug", [])).resolves.toBeUndefined();
    await expect(refuseRequiredSecrets("plug", [need("o", { optional: true })])).resolves.toBeUndefined();
    const one = await refusal(refuseRequiredSecrets("plug", [need("a"), need("o", { optional: true })]));
    expect(one.code).toBe(Code.FailedPrecondition);
    expect(one.rawMessage).toBe('required secret "a" not available: this host serves no secrets (configure a secret provider)');
    const two = await refusal(refuseRequiredSecrets("plug", [need("a"), need("b")]));
    expect(two.rawMessage).toBe('required secrets "a", "b" not available: this host serves no secrets (configure a secret provider)');
  });
});
