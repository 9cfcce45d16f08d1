import { describe, expect, it } from "vitest";
import { requestIdFrom } from "../../../src/audit/index.js";

describe("request id", () => {
  it("keeps a plain caller id and replaces a hostile or oversize one", () => {
    expect(requestIdFrom({ "plugboard-request-id": "abc-123" })).toBe("abc-123");
    for (const bad of ["a\nforged record", "x".repeat(129), "", "<script>"])
      expect(requestIdFrom({ "plugboard-request-id": bad })).toMatch(/^req_/);
    expect(requestIdFrom({})).toMatch(/^req_/);
  });
});
