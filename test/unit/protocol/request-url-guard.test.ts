import { describe, expect, it } from "vitest";
import { answerMalformedUrls } from "../../../src/protocol/request-url-guard.js";

/** A response recording what was written to it. */
function response(headersSent = false) {
  const calls: string[] = [];
  return {
    calls,
    headersSent,
    writeHead(status: number) {
      calls.push(`writeHead ${status}`);
    },
    end() {
      calls.push("end");
    },
  };
}
const invalidUrl = () => {
  new URL("/x", "http://::1:5"); // throws TypeError ERR_INVALID_URL, as connect-node does for such an :authority
};

describe("answerMalformedUrls", () => {
  it("passes each request to the handler", () => {
    const seen: unknown[] = [];
    const res = response();
    answerMalformedUrls((req: string, r: typeof res) => seen.push(req, r))("req", res);
    expect(seen).toEqual(["req", res]);
    expect(res.calls).toEqual([]);
  });

  it("answers 400 when the handler cannot make the request's URL", () => {
    const res = response();
    answerMalformedUrls(invalidUrl)("req", res);
    expect(res.calls).toEqual(["writeHead 400", "end"]);
  });

  it("only ends a response whose headers are out", () => {
    const res = response(true);
    answerMalformedUrls(invalidUrl)("req", res);
    expect(res.calls).toEqual(["end"]);
  });

  it("rethrows any other error", () => {
    const res = response();
    const boom = new Error("boom");
    expect(() =>
      answerMalformedUrls(() => {
        throw boom;
      })("req", res),
    ).toThrow(boom);
    expect(() =>
      answerMalformedUrls(() => {
        throw undefined;
      })("req", res),
    ).toThrow();
    expect(res.calls).toEqual([]);
  });
});
