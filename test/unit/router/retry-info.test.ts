import { create, toBinary, fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { HEADER_RETRY_AFTER, RetryInfoSchema, rateLimitedError, retryDelayMs, type RetryInfo } from "../../../src/router/retry-info.js";

describe("rateLimitedError", () => {
  it("ResourceExhausted by default, naming the delay in ms, with a whole-second retry-after and a RetryInfo detail", () => {
    const err = rateLimitedError(1234.2);
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toBe("rate limit exceeded, retry after 1235 ms");
    expect(err.metadata.get(HEADER_RETRY_AFTER)).toBe("2");
    const [info] = err.findDetails(RetryInfoSchema) as RetryInfo[];
    expect(info?.retryDelay).toMatchObject({ seconds: 1n, nanos: 235_000_000 });
    expect(retryDelayMs(err)).toBe(1235);
  });

  it("the caller's text and code are used; a delay under 1 ms is 1 ms", () => {
    const err = rateLimitedError(0, "too many calls in flight", Code.Unavailable);
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toBe("too many calls in flight, retry after 1 ms");
    expect(err.metadata.get("retry-after")).toBe("1");
    expect(retryDelayMs(err)).toBe(1);
    expect(rateLimitedError(-50).rawMessage).toBe("rate limit exceeded, retry after 1 ms");
  });

  it("whole seconds: nanos 0, retry-after exact", () => {
    const err = rateLimitedError(3000);
    expect(err.metadata.get(HEADER_RETRY_AFTER)).toBe("3");
    const [info] = err.findDetails(RetryInfoSchema) as RetryInfo[];
    expect(info?.retryDelay).toMatchObject({ seconds: 3n, nanos: 0 });
  });

  it("the detail is the standard google.rpc.RetryInfo: its binary form carries field 1 (Duration)", () => {
    const msg = create(RetryInfoSchema, { retryDelay: { seconds: 2n, nanos: 5 } } as never);
    const bytes = toBinary(RetryInfoSchema, msg);
    // field 1, wire type 2 (length-delimited); Duration: seconds (1, varint 2), nanos (2, varint 5)
    expect([...bytes]).toEqual([0x0a, 4, 0x08, 2, 0x10, 5]);
    expect((fromBinary(RetryInfoSchema, bytes) as RetryInfo).retryDelay).toMatchObject({ seconds: 2n, nanos: 5 });
    expect(RetryInfoSchema.typeName).toBe("google.rpc.RetryInfo");
  });
});

describe("retryDelayMs", () => {
  it("reads the detail first, rounding nanos to ms", () => {
    const err = new ConnectError("x", Code.ResourceExhausted, { [HEADER_RETRY_AFTER]: "9" });
    err.details.push({ desc: RetryInfoSchema, value: { retryDelay: { seconds: 1n, nanos: 600_000 } } as never });
    expect(retryDelayMs(err)).toBe(1001);
  });

  it("else a numeric retry-after in seconds; anything else is no delay", () => {
    expect(retryDelayMs(new ConnectError("x", Code.ResourceExhausted, { [HEADER_RETRY_AFTER]: "4" }))).toBe(4000);
    expect(retryDelayMs(new ConnectError("x", Code.ResourceExhausted, { [HEADER_RETRY_AFTER]: "0" }))).toBe(0);
    expect(retryDelayMs(new ConnectError("x", Code.ResourceExhausted, { [HEADER_RETRY_AFTER]: "120" }))).toBe(120_000);
    for (const v of ["4.5", "-1", "Wed, 21 Oct 2026 07:28:00 GMT", "", "a4", "4a"]) {
      expect(retryDelayMs(new ConnectError("x", Code.ResourceExhausted, { [HEADER_RETRY_AFTER]: v })), v).toBeUndefined();
    }
    expect(retryDelayMs(new ConnectError("x", Code.ResourceExhausted))).toBeUndefined();
  });

  it("a RetryInfo detail without a delay falls back to retry-after", () => {
    const err = new ConnectError("x", Code.ResourceExhausted, { [HEADER_RETRY_AFTER]: "2" });
    err.details.push({ desc: RetryInfoSchema, value: {} as never });
    expect(retryDelayMs(err)).toBe(2000);
  });
});
