import { Code } from "@connectrpc/connect";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createAwsSecretProvider, mapAwsError } from "../../../src/secrets/aws.js";
import { startFakeSecretsManager, type FakeSecretsManager } from "../../integration/secrets/fake-aws-sm.js";
import { failure, text } from "../../helpers/secrets.js";

/** An SDK-shaped error: name, HTTP status and fault as the SDK sets them. */
function sdkError(name: string, status?: number, fault?: "client" | "server"): Error {
  const error = new Error(`AWS says: ${name} for secret value sk-echoed`);
  error.name = name;
  Object.assign(error, { $metadata: status === undefined ? {} : { httpStatusCode: status }, ...(fault ? { $fault: fault } : {}) });
  return error;
}

/** A client that records each command's input and answers from `answer`. */
function recordingClient(answer: (command: { constructor: { name: string }; input: Record<string, unknown> }) => unknown) {
  const inputs: Record<string, unknown>[] = [];
  let destroyed = 0;
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }, opts: { abortSignal?: AbortSignal }) => {
      expect(opts.abortSignal).toBeInstanceOf(AbortSignal);
      inputs.push(command.input);
      const out = answer(command);
      if (out instanceof Error) throw out;
      return out;
    },
    destroy: () => void destroyed++,
  };
  return { client: client as unknown as SecretsManagerClient, inputs, destroyed: () => destroyed };
}

describe("AWS error mapping (by error name and status only, never the AWS message)", () => {
  it("maps not-found and deletion to NotFound naming the secret", () => {
    expect(mapAwsError(sdkError("ResourceNotFoundException", 400), "db")).toMatchObject({
      code: Code.NotFound,
      rawMessage: 'secret "db": not found',
      secretName: "db",
    });
    expect(mapAwsError(sdkError("ResourceNotFoundException", 400), undefined)).toMatchObject({
      code: Code.NotFound,
      rawMessage: "aws secrets manager: not found",
    });
    expect(mapAwsError(sdkError("InvalidRequestException", 400), "db")).toMatchObject({
      code: Code.NotFound,
      rawMessage: 'secret "db": not readable (deleted or scheduled for deletion)',
    });
    // Without a name (list, health) an invalid request is no absence: an unexpected status.
    expect(mapAwsError(sdkError("InvalidRequestException", 400), undefined)).toMatchObject({
      code: Code.Unavailable,
      rawMessage: "aws secrets manager unavailable: unexpected InvalidRequestException (400)",
    });
  });

  it("maps every refusal name, and a bare 403, to PermissionDenied", () => {
    for (const name of [
      "AccessDeniedException",
      "AccessDenied",
      "UnrecognizedClientException",
      "InvalidSignatureException",
      "ExpiredTokenException",
      "DecryptionFailure",
    ]) {
      expect(mapAwsError(sdkError(name, 400), "db"), name).toMatchObject({
        code: Code.PermissionDenied,
        rawMessage: 'secret "db": aws secrets manager denied access',
      });
    }
    expect(mapAwsError(sdkError("SomethingElse", 403), "db").code).toBe(Code.PermissionDenied);
    expect(mapAwsError(sdkError("AccessDeniedException", 400), undefined)).toMatchObject({
      code: Code.PermissionDenied,
      rawMessage: "aws secrets manager denied access",
    });
  });

  it("maps throttling names and 429 to Unavailable (throttled), timeouts to Unavailable (timed out)", () => {
    for (const name of ["ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"]) {
      expect(mapAwsError(sdkError(name, 400), "db"), name).toMatchObject({
        code: Code.Unavailable,
        rawMessage: 'secret "db": aws secrets manager unavailable: throttled',
      });
    }
    expect(mapAwsError(sdkError("Other", 429), "db").rawMessage).toBe('secret "db": aws secrets manager unavailable: throttled');
    for (const name of ["TimeoutError", "AbortError"]) {
      expect(mapAwsError(sdkError(name), "db").rawMessage, name).toBe('secret "db": aws secrets manager unavailable: timed out');
    }
  });

  it("maps a bad parameter to InvalidArgument, server faults and 5xx to Unavailable with the status", () => {
    expect(mapAwsError(sdkError("InvalidParameterException", 400), "db")).toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: 'secret "db": aws secrets manager rejected a parameter',
      secretName: "db",
    });
    expect(mapAwsError(sdkError("InvalidParameterException", 400), undefined).rawMessage).toBe("aws secrets manager rejected a parameter");
    expect(mapAwsError(sdkError("InternalServiceError", 500), "db").rawMessage).toBe(
      'secret "db": aws secrets manager unavailable: server error 500',
    );
    expect(mapAwsError(sdkError("X", 599), "db").rawMessage).toBe('secret "db": aws secrets manager unavailable: server error 599');
    expect(mapAwsError(sdkError("X", undefined, "server"), "db").rawMessage).toBe('secret "db": aws secrets manager unavailable: server error');
    expect(mapAwsError(sdkError("X", 499), "db").rawMessage).toBe('secret "db": aws secrets manager unavailable: unexpected X (499)');
  });

  it("a failure without a status is a connection failure; an odd status is named without the AWS text", () => {
    expect(mapAwsError(sdkError("X"), "db").rawMessage).toBe('secret "db": aws secrets manager unavailable: cannot connect');
    expect(mapAwsError("a string", "db").rawMessage).toBe('secret "db": aws secrets manager unavailable: cannot connect');
    expect(mapAwsError(undefined, "db").code).toBe(Code.Unavailable);
    const odd = Object.assign(new Error("leaky sk-echoed"), { name: "", $metadata: { httpStatusCode: 418 } });
    const mapped = mapAwsError(odd, "db");
    expect(mapped.rawMessage).toBe('secret "db": aws secrets manager unavailable: unexpected error (418)');
    expect(mapped.message).not.toContain("sk-echoed");
    expect(mapAwsError({ $metadata: { httpStatusCode: 418 } }, "db").rawMessage).toBe('secret "db": aws secrets manager unavailable: unexpected error (418)');
  });
});

describe("AWS provider requests (recording client)", () => {
  it("needs a region unless given a client", () => {
    expect(() => createAwsSecretProvider({} as never)).toThrow("aws secret provider needs a region");
    expect(() => createAwsSecretProvider({ client: recordingClient(() => ({})).client } as never)).not.toThrow();
  });

  it("turns versions into stage labels or version ids, with the prefix on the SecretId", async () => {
    const rec = recordingClient(() => ({ SecretString: "v", VersionId: "vid" }));
    const provider = createAwsSecretProvider({ region: "r", client: rec.client, prefix: "app/" });
    await provider.get("db");
    await provider.get("db", { version: "" });
    await provider.get("db", { version: "AWSPREVIOUS" });
    await provider.get("db", { version: "stage:blue" });
    await provider.get("db", { version: "stage:" });
    await provider.get("db", { version: "xAWSCURRENT" });
    await provider.get("db", { version: "AWSCURRENTx" });
    await provider.get("db", { version: "AWS" });
    await provider.get("db#field-less".replace("#field-less", ""), { version: "1234" });
    expect(rec.inputs).toEqual([
      { SecretId: "app/db" },
      { SecretId: "app/db" },
      { SecretId: "app/db", VersionStage: "AWSPREVIOUS" },
      { SecretId: "app/db", VersionStage: "blue" },
      { SecretId: "app/db", VersionStage: "" },
      { SecretId: "app/db", VersionId: "xAWSCURRENT" },
      { SecretId: "app/db", VersionId: "AWSCURRENTx" },
      { SecretId: "app/db", VersionId: "AWS" },
      { SecretId: "app/db", VersionId: "1234" },
    ]);
    expect(provider.locate!("db#f")).toBe("AWS Secrets Manager secret app/db");
    expect(provider.kind).toBe("aws");
    const many = await provider.getMany([
      { name: "db", version: "AWSPENDING", optional: false },
      { name: "other", version: "", optional: true },
    ]);
    expect(many.map((s) => s.name)).toEqual(["db", "other"]);
    expect(rec.inputs.slice(-2)).toEqual([{ SecretId: "app/db", VersionStage: "AWSPENDING" }, { SecretId: "app/other" }]);
    await provider.close!();
    expect(rec.destroyed()).toBe(0); // a client it was given is the caller's
  });

  it("answers binary, string and JSON fields, and refuses what a version does not hold", async () => {
    let out: Record<string, unknown> = {};
    const provider = createAwsSecretProvider({ region: "r", client: recordingClient(() => out).client });
    out = { SecretBinary: new Uint8Array([1, 2]), VersionId: "b1" };
    expect(await provider.get("bin")).toEqual({ name: "bin", version: "b1", value: new Uint8Array([1, 2]) });
    expect(await failure(provider.get("bin#f"))).toMatchObject({ code: Code.NotFound, rawMessage: 'secret "bin#f": field "f" not present (binary secret)' });
    out = { SecretString: "plain" };
    expect(await provider.get("s")).toEqual({ name: "s", version: "", value: new TextEncoder().encode("plain") });
    expect(await failure(provider.get("s#f"))).toMatchObject({ rawMessage: 'secret "s#f": field "f" not present (not a JSON object)' });
    out = { SecretString: "[1]" };
    expect((await failure(provider.get("s#f"))).rawMessage).toBe('secret "s#f": field "f" not present (not a JSON object)');
    out = { SecretString: '{"f":"inner","g":2}', VersionId: "j" };
    expect(text((await provider.get("s#f")).value)).toBe("inner");
    expect((await provider.get("s#f")).version).toBe("j");
    expect(text((await provider.get("s")).value)).toBe('{"f":"inner","g":2}');
    out = { VersionId: "empty" };
    expect(await failure(provider.get("s"))).toMatchObject({ code: Code.NotFound, rawMessage: 'secret "s": version holds no value' });
  });

  it("lists with the prefix stripped, skipping other names, following NextToken up to 10 000 names", async () => {
    let pages = 0;
    const rec = recordingClient((command) => {
      pages++;
      if (command.input["MaxResults"] === 1) return {};
      const names = [...Array(100)].map((_, i) => ({ Name: `app/p${pages}-${String(i).padStart(3, "0")}` }));
      return { SecretList: [...names, { Name: "other/x" }, {}], NextToken: `t${pages}` };
    });
    const provider = createAwsSecretProvider({ region: "r", client: rec.client, prefix: "app/" });
    const names = await provider.list();
    expect(names).toHaveLength(10_000);
    expect(pages).toBe(100);
    expect(names.every((n) => n.startsWith("p"))).toBe(true);
    expect(rec.inputs[0]).toEqual({ MaxResults: 100 });
    expect(rec.inputs[1]).toEqual({ MaxResults: 100, NextToken: "t1" });
    expect(names).toEqual([...names].sort());
    expect(await provider.health()).toEqual({ ok: true });
    expect(rec.inputs.at(-1)).toEqual({ MaxResults: 1 });
  });

  it("a list without SecretList ends; health reports the mapped reason, never the AWS text", async () => {
    const provider = createAwsSecretProvider({ region: "r", client: recordingClient(() => ({})).client });
    expect(await provider.list()).toEqual([]);
    const denied = createAwsSecretProvider({ region: "r", client: recordingClient(() => sdkError("AccessDeniedException", 400)).client });
    expect(await denied.health()).toEqual({ ok: false, detail: "aws secrets manager denied access" });
    expect(await failure(denied.get("db"))).toMatchObject({ code: Code.PermissionDenied, secretName: "db" });
    expect(await failure(denied.list())).toMatchObject({ code: Code.PermissionDenied, rawMessage: "aws secrets manager denied access" });
  });
});

describe("AWS provider against the loopback Secrets Manager", () => {
  let sm: FakeSecretsManager;
  beforeEach(async () => {
    sm = await startFakeSecretsManager();
  });
  afterEach(async () => {
    await sm.close();
  });

  it("signs with the given credentials and region, makes maxAttempts attempts, and closes its own client", async () => {
    sm.put("k", "v");
    const provider = createAwsSecretProvider({
      region: "eu-west-3",
      endpoint: sm.url,
      credentials: { accessKeyId: "AKIDUNITTEST", secretAccessKey: "s" },
      maxAttempts: 2,
      timeoutMs: 5000,
    });
    expect(text((await provider.get("k")).value)).toBe("v");
    expect(sm.lastAuthorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDUNITTEST\/\d{8}\/eu-west-3\/secretsmanager\/aws4_request/);
    sm.throttleNext = 1;
    expect(text((await provider.get("k")).value)).toBe("v");
    sm.throttleNext = 2;
    expect((await failure(provider.get("k"))).rawMessage).toContain("throttled");
    // It made its own client, so closing destroys it (its sockets); a client it was given is left alone.
    const destroy = vi.spyOn(SecretsManagerClient.prototype, "destroy");
    try {
      await provider.close!();
      expect(destroy).toHaveBeenCalledTimes(1);
    } finally {
      destroy.mockRestore();
    }
  });

  it("defaults to three attempts", async () => {
    sm.put("k", "v");
    const provider = createAwsSecretProvider({ region: "us-east-1", endpoint: sm.url, credentials: { accessKeyId: "A", secretAccessKey: "s" } });
    try {
      sm.throttleNext = 2;
      expect(text((await provider.get("k")).value)).toBe("v");
      expect(sm.calls.get("throttled")).toBe(2);
    } finally {
      await provider.close!();
    }
  });
});
