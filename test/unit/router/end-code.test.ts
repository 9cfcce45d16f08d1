import { describe, expect, it } from "vitest";
import { endCodeFromCapture, grpcStatusName } from "../../../src/router/end-code.js";

/* How the router reads the code a call ended with (metrics, outlier ejection), from headers and captured end envelopes. */

describe("grpcStatusName", () => {
  it.each([
    ["0", "ok"],
    [0, "ok"],
    ["5", "not_found"],
    [["14", "2"], "unavailable"],
    ["16", "unauthenticated"],
    [" 3 ", "invalid_argument"],
  ])("%j is %s", (value, name) => expect(grpcStatusName(value)).toBe(name));

  it.each([["17"], ["-1"], ["1.5"], ["abc"], [undefined], [[]]])("%j is unknown", (value) => expect(grpcStatusName(value)).toBe("unknown"));
});

const text = (s: string) => Buffer.from(s, "utf8");

describe("endCodeFromCapture", () => {
  it.each(["grpc-web", "grpc-web-text"] as const)("%s: the grpc-status of the trailer frame (any case and spacing)", (protocol) => {
    expect(endCodeFromCapture(protocol, text("grpc-status: 5\r\ngrpc-message: gone\r\n"), "fb")).toBe("not_found");
    expect(endCodeFromCapture(protocol, text("GRPC-STATUS:0\r\n"), "fb")).toBe("ok");
    expect(endCodeFromCapture(protocol, text("grpc-status:  14\r\n"), "fb")).toBe("unavailable");
    expect(endCodeFromCapture(protocol, text("grpc-message: no status\r\n"), "fb")).toBe("fb");
    expect(endCodeFromCapture(protocol, text("grpc-status: x\r\n"), "fb")).toBe("fb");
  });

  it("connect-stream: the code of the end-stream message, the fallback without one", () => {
    expect(endCodeFromCapture("connect-stream", text('{"error":{"code":"not_found","message":"m"}}'), "fb")).toBe("not_found");
    expect(endCodeFromCapture("connect-stream", text('{"error":{"code"  :  "resource_exhausted"}}'), "fb")).toBe("resource_exhausted");
    expect(endCodeFromCapture("connect-stream", text("{}"), "fb")).toBe("fb");
    expect(endCodeFromCapture("connect-stream", text('{"code":"X"}'), "fb")).toBe("fb");
  });

  it("gRPC and Connect unary carry no end envelope: always the fallback", () => {
    expect(endCodeFromCapture("grpc", text("grpc-status: 5"), "fb")).toBe("fb");
    expect(endCodeFromCapture("connect-unary", text('{"code":"not_found"}'), "fb")).toBe("fb");
    expect(endCodeFromCapture("connect-stream", text("grpc-status: 5"), "fb")).toBe("fb");
  });
});
