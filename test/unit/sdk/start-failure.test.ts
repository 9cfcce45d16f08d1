import { Code, ConnectError } from "@connectrpc/connect";
import { expect, it } from "vitest";
import { describeStartFailure, EXIT_CODES } from "../../../src/sdk/run.js";

const url = "http://127.0.0.1:7777";
const describe = (message: string, code: Code) => describeStartFailure("kv", url, new ConnectError(message, code));

it("explains each start failure in one line with its fix and exit code", () => {
  expect(describe("connect ECONNREFUSED 127.0.0.1:7777", Code.Unavailable)).toEqual({
    line: `plugin kv failed to start: connect ECONNREFUSED 127.0.0.1:7777 — is the host running at ${url}? Check PLUGBOARD_HOST_URL`,
    exitCode: EXIT_CODES.unreachable,
  });
  const missing = 'required secret not available: "db/password" (looked in environment variable PB_SECRET_DB_PASSWORD); provide it to the host or declare it optional';
  expect(describe(missing, Code.FailedPrecondition)).toEqual({ line: `plugin kv failed to start: ${missing}`, exitCode: EXIT_CODES.refused });
  const outage = describe('secret provider (vault) could not be asked for required secret "db/password"; try again', Code.Unavailable);
  expect(outage.exitCode).toBe(EXIT_CODES.unreachable);
  expect(outage.line).toMatch(/— the host could not check its secrets just now/);
  expect(describe("launch secret missing, unknown, expired or already used", Code.Unauthenticated).line).toMatch(/this host only admits plugins it launched/);
  expect(describeStartFailure("kv", undefined, new Error("createPlugin: version must be a semver version"))).toEqual({
    line: "plugin kv failed to start: createPlugin: version must be a semver version",
    exitCode: EXIT_CODES.refused,
  });
  // Always one line, whatever the message holds.
  expect(describe("first\nsecond\r\nthird", Code.Internal).line).toBe("plugin kv failed to start: first second third");
});
