import { describe, expect, it } from "vitest";
import { inspectToken } from "../../../src/cli/token-command.js";

describe("token inspect", () => {
  it("recognises enrolment tokens by their prefix, never echoing them", () => {
    const token = "pbet_" + "Ab3".repeat(14) + "x";
    const facts = inspectToken(token);
    expect(facts).toMatchObject({ kind: "enrolment", wellFormed: true });
    expect(JSON.stringify(facts)).not.toContain(token.slice(5));
  });
});
