import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS } from "../../../src/protocol/constants.js";
import { EnvelopeScanner } from "../../../src/router/envelope-scanner.js";
import { Base64EnvelopeGate, EnvelopeGate, holdBytesFor } from "../../../src/router/response-limit.js";
import { splitAt } from "../../helpers/chunks.js";

const LIMIT = 16;

function envelope(size: number): Buffer {
  const e = Buffer.alloc(5 + size, 0xcd);
  e.writeUInt8(0, 0);
  e.writeUInt32BE(size, 1);
  return e;
}

describe("holdBytesFor", () => {
  it("one whole allowed message and its prefix; with the limit disabled, the default limit's worth", () => {
    expect(holdBytesFor(100)).toBe(105);
    expect(holdBytesFor(0)).toBe(5);
    expect(holdBytesFor(Infinity)).toBe(5 + DEFAULT_LIMITS.maxResponseMessageBytes);
  });
});

describe("EnvelopeGate, what it writes", () => {
  it("property: never an empty write, whatever empty reads come between the chunks, and the bytes arrive whole", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 * LIMIT }), { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 14 }), (sizes, cuts) => {
        const bytes = Buffer.concat(sizes.map(envelope));
        const gate = new EnvelopeGate(new EnvelopeScanner(Number.MAX_SAFE_INTEGER), holdBytesFor(LIMIT));
        const out: Buffer[] = [];
        for (const c of splitAt(bytes, cuts)) expect(gate.push(c, (b) => out.push(b))).toBe(true);
        gate.flush((b) => out.push(b));
        expect(out.filter((b) => b.length === 0)).toEqual([]);
        expect(Buffer.concat(out).equals(bytes)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it("once a message over the limit was announced, nothing held is ever forwarded", () => {
    const gate = new EnvelopeGate(new EnvelopeScanner(LIMIT), holdBytesFor(LIMIT));
    const out: Buffer[] = [];
    const whole = envelope(4);
    expect(gate.push(Buffer.concat([whole, envelope(3).subarray(0, 4)]), (b) => out.push(b))).toBe(true);
    expect(gate.push(Buffer.concat([envelope(3).subarray(4), envelope(LIMIT + 1).subarray(0, 5)]), (b) => out.push(b))).toBe(false);
    gate.flush((b) => out.push(b));
    expect(Buffer.concat(out).equals(Buffer.concat([whole, envelope(3)]))).toBe(true);
    expect(out.filter((b) => b.length === 0)).toEqual([]);
  });

  it("an oversize prefix at the very start of a chunk: nothing more is written", () => {
    const gate = new EnvelopeGate(new EnvelopeScanner(LIMIT), holdBytesFor(LIMIT));
    const out: Buffer[] = [];
    gate.push(envelope(2), (b) => out.push(b));
    expect(gate.push(envelope(LIMIT + 1), (b) => out.push(b))).toBe(false);
    expect(out).toEqual([envelope(2)]);
  });

  it("a message past the hold budget: once passing, each further piece of it goes on at once", () => {
    const gate = new EnvelopeGate(new EnvelopeScanner(Number.MAX_SAFE_INTEGER), 5 + 8);
    const big = envelope(40);
    const out: Buffer[] = [];
    gate.push(big.subarray(0, 14), (b) => out.push(b));
    expect(Buffer.concat(out).length).toBe(14);
    gate.push(big.subarray(14, 20), (b) => out.push(b));
    expect(Buffer.concat(out).length).toBe(20);
    gate.push(big.subarray(20, 21), (b) => out.push(b));
    expect(Buffer.concat(out).length).toBe(21);
    expect(gate.atBoundary).toBe(false);
  });

  it("exactly the hold budget is still held; one byte more starts passing", () => {
    const gate = new EnvelopeGate(new EnvelopeScanner(Number.MAX_SAFE_INTEGER), 5 + 8);
    const big = envelope(40);
    const out: Buffer[] = [];
    gate.push(big.subarray(0, 13), (b) => out.push(b));
    expect(out).toEqual([]);
    expect(gate.atBoundary).toBe(true);
    gate.push(big.subarray(13, 14), (b) => out.push(b));
    expect(Buffer.concat(out).equals(big.subarray(0, 14))).toBe(true);
  });
});

describe("Base64EnvelopeGate, what it writes", () => {
  it("property: never an empty text, and the base64 decodes to the bytes", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 * LIMIT }), { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 14 }), (sizes, cuts) => {
        const bytes = Buffer.concat(sizes.map(envelope));
        const gate = new Base64EnvelopeGate(new EnvelopeScanner(LIMIT * 2), holdBytesFor(LIMIT * 2));
        const out: string[] = [];
        for (const c of splitAt(Buffer.from(bytes.toString("base64"), "latin1"), cuts)) gate.push(c, (t) => out.push(t));
        gate.flush((t) => out.push(t));
        gate.end((t) => out.push(t));
        expect(out.filter((t) => t.length === 0)).toEqual([]);
        expect(Buffer.from(out.join(""), "base64").equals(bytes)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
