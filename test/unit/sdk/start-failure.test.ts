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

it("gives each kind of failure its own fix, whatever else the message says", () => {
  const fix = (message: string, code: Code) => {
    const { line, exitCode } = describe(message, code);
    return [line.replace(/^plugin kv failed to start: /, ""), exitCode];
  };
  const running = `is the host running at ${url}? Check PLUGBOARD_HOST_URL`;
  expect(fix("  deadline passed \n", Code.DeadlineExceeded)).toEqual([`deadline passed — ${running}`, EXIT_CODES.unreachable]);
  expect(fix("the call was canceled", Code.Canceled)).toEqual([`the call was canceled — ${running}`, EXIT_CODES.unreachable]);
  // A secret provider named in a refusal that is not Unavailable is no outage.
  expect(fix("secret provider refused the host's token", Code.PermissionDenied)).toEqual(["secret provider refused the host's token", EXIT_CODES.refused]);
  // A missing required secret answered Unavailable is still a refusal whose message names the fix.
  expect(fix("required secret not available: db", Code.Unavailable)).toEqual(["required secret not available: db", EXIT_CODES.refused]);
  expect(fix("magic cookie mismatch", Code.PermissionDenied)).toEqual([
    "magic cookie mismatch — the plugin's magicCookie must be the one its host was configured with (a plugin is started by its host)",
    EXIT_CODES.refused,
  ]);
  const notPlugboard = `${url} does not look like a Plugboard host`;
  expect(fix("no such service", Code.Unimplemented)).toEqual([`no such service — ${notPlugboard}`, EXIT_CODES.refused]);
  expect(fix("404", Code.NotFound)).toEqual([`404 — ${notPlugboard}`, EXIT_CODES.refused]);
  expect(describeStartFailure("kv", undefined, new ConnectError("404", Code.NotFound)).line).toBe(
    "plugin kv failed to start: 404 — PLUGBOARD_HOST_URL does not look like a Plugboard host",
  );
  expect(fix("bad certificate", Code.Unauthenticated)).toEqual([
    "bad certificate — the host did not accept this plugin's credentials (mTLS certificate, launch secret or token)",
    EXIT_CODES.refused,
  ]);
  expect(fix("boom", Code.Internal)).toEqual(["boom", EXIT_CODES.refused]);
  expect(describeStartFailure("kv", undefined, new ConnectError("refused", Code.Unavailable)).line).toBe(
    "plugin kv failed to start: refused — is the host running? Check PLUGBOARD_HOST_URL",
  );
  expect(describeStartFailure("kv", undefined, new Error("createPlugin: hostUrl (or env PLUGBOARD_HOST_URL) is required")).line).toBe(
    "plugin kv failed to start: createPlugin: hostUrl (or env PLUGBOARD_HOST_URL) is required (plugins are normally started by their host, which sets it; to run one by hand, set PLUGBOARD_HOST_URL=http://host:port)",
  );
});
