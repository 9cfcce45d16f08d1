import { describe, expect, it } from "vitest";
import { RequestReplay } from "../../../src/router/safe-retry.js";

describe("the request bytes a retry replays, one chunk", () => {
  it("a single-chunk request replays as exactly that chunk", () => {
    const replay = new RequestReplay<Uint8Array>(10);
    const only = new Uint8Array([1, 2, 3]);
    replay.keep(only);
    const kept = replay.take()!;
    expect(kept).toHaveLength(1);
    expect(kept[0]).toBe(only);
  });

  it("a chunk of exactly the budget is kept; keeping stops for good once past it", () => {
    const replay = new RequestReplay<Uint8Array>(4);
    replay.keep(new Uint8Array(4));
    expect(replay.keeping).toBe(true);
    replay.keep(new Uint8Array(0));
    expect(replay.take()).toHaveLength(2);
  });
});
