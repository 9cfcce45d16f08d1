import { describe, expect, it } from "vitest";
import { createRandomPool, pooledRandomBytes } from "../../../src/tokens/random-pool.js";

/** A fill writing a running counter (1…255, never 0), so every byte handed out can be traced to its fill. */
function countingFill() {
  let next = 0;
  const filled: Buffer[] = [];
  return {
    filled,
    fill(buffer: Buffer) {
      filled.push(buffer);
      for (let i = 0; i < buffer.length; i++) buffer[i] = (next++ % 255) + 1;
    },
  };
}

describe("createRandomPool", () => {
  it("hands out each filled byte once, in order, and refills only when the rest cannot serve a draw", () => {
    const f = countingFill();
    const draw = createRandomPool(64, f.fill);
    const a = draw(8);
    const b = draw(8);
    expect(f.filled.length).toBe(1);
    expect([...a]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect([...b]).toEqual([9, 10, 11, 12, 13, 14, 15, 16]);
    for (let i = 0; i < 6; i++) draw(8); // exactly the rest of the pool
    expect(f.filled.length).toBe(1);
    expect(draw(8)[0]).toBe(65); // nothing left: refilled
    expect(f.filled.length).toBe(2);
  });

  it("returns copies, and wipes from the pool what it handed out", () => {
    const f = countingFill();
    const draw = createRandomPool(32, f.fill);
    const a = draw(4);
    const copy = Buffer.from(a);
    const pool = f.filled[0]!;
    expect([...pool.subarray(0, 4)]).toEqual([0, 0, 0, 0]);
    expect(pool[4]).not.toBe(0);
    for (let i = 0; i < 20; i++) draw(4); // several refills of the same pool
    expect(a.equals(copy)).toBe(true);
  });

  it("fills large draws on their own, without touching the pool", () => {
    const f = countingFill();
    const draw = createRandomPool(64, f.fill);
    expect([...draw(9)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]); // above an eighth of the pool
    expect(f.filled.map((b) => b.length)).toEqual([9]);
  });

  it("the default pool gives distinct values of the asked size", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const bytes = pooledRandomBytes(16);
      expect(bytes.length).toBe(16);
      seen.add(bytes.toString("hex"));
    }
    expect(seen.size).toBe(5000);
  });
});
