import { describe, expect, it } from "vitest";
import { BodyCounter, EnvelopeScanner } from "../../../src/router/envelope-scanner.js";

function envelope(size: number, flags = 0, fill = 0xab): Buffer {
  const e = Buffer.alloc(5 + size, fill);
  e.writeUInt8(flags, 0);
  e.writeUInt32BE(size, 1);
  return e;
}

describe("EnvelopeScanner, the limit", () => {
  it("an envelope of exactly the limit passes, one byte more is refused, and stays refused", () => {
    expect(new EnvelopeScanner(10).push(envelope(10))).toBe(true);
    const s = new EnvelopeScanner(10);
    expect(s.push(Buffer.concat([envelope(3), envelope(11)]))).toBe(false);
    expect(s.rejectedAt).toBe(8);
    // Nothing more is scanned once refused, even a valid envelope.
    expect(s.push(envelope(1))).toBe(false);
  });

  it("rejectedAt is negative when the oversize prefix began in an earlier chunk", () => {
    const s = new EnvelopeScanner(10);
    const big = envelope(300);
    expect(s.push(Buffer.concat([envelope(2), big.subarray(0, 3)]))).toBe(true);
    expect(s.prefixBytes).toBe(3);
    expect(s.push(big.subarray(3, 5))).toBe(false);
    expect(s.rejectedAt).toBe(-3);
  });

  it("the length is the full 32-bit big-endian value (every prefix byte counts)", () => {
    for (const bytes of [[0, 0, 0, 11], [0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0]]) {
      const s = new EnvelopeScanner(10);
      expect(s.push(Buffer.from([0, ...bytes])), String(bytes)).toBe(false);
    }
    const s = new EnvelopeScanner(300);
    expect(s.push(Buffer.from([0, 0, 0, 1, 44]))).toBe(true);
    expect(s.atBoundary).toBe(false);
    expect(s.push(Buffer.alloc(299))).toBe(true);
    expect(s.atBoundary).toBe(false);
    expect(s.push(Buffer.alloc(1))).toBe(true);
    expect(s.atBoundary).toBe(true);
  });
});

describe("EnvelopeScanner, boundaries", () => {
  it("boundaryAt: 0 at a boundary with nothing completed, -1 inside one envelope, else just past the last completed", () => {
    const s = new EnvelopeScanner(100);
    const a = envelope(4);
    expect(s.push(a.subarray(0, 2))).toBe(true);
    expect(s.boundaryAt).toBe(0);
    expect(s.prefixBytes).toBe(2);
    expect(s.atBoundary).toBe(false);
    s.push(a.subarray(2, 6));
    expect(s.boundaryAt).toBe(-1);
    s.push(Buffer.concat([a.subarray(6), envelope(0), envelope(2).subarray(0, 1)]));
    expect(s.boundaryAt).toBe(8);
    expect(s.prefixBytes).toBe(1);
    s.push(envelope(2).subarray(1));
    expect(s.boundaryAt).toBe(6);
    expect(s.atBoundary).toBe(true);
    expect(s.prefixBytes).toBe(0);
    s.push(Buffer.alloc(0));
    expect(s.boundaryAt).toBe(0);
  });

  it("an empty envelope completes at its prefix", () => {
    const s = new EnvelopeScanner(100);
    s.push(envelope(0));
    expect(s.boundaryAt).toBe(5);
    expect(s.atBoundary).toBe(true);
  });
});

describe("EnvelopeScanner, end-of-stream capture", () => {
  it("an envelope with a capture flag is captured whole across chunks and ends the stream; others do not", () => {
    const s = new EnvelopeScanner(1 << 20, 0x02);
    s.push(envelope(3, 0x01));
    expect(s.ended).toBe(false);
    expect(s.lastCaptured).toBeUndefined();
    const end = Buffer.concat([Buffer.from([0x03, 0, 0, 0, 4]), Buffer.from("abcd")]);
    s.push(end.subarray(0, 7));
    expect(s.ended).toBe(false);
    expect(s.lastCaptured).toBeUndefined();
    s.push(end.subarray(7));
    expect(s.ended).toBe(true);
    expect(s.lastCaptured?.toString()).toBe("abcd");
  });

  it("an empty end-of-stream envelope ends the stream with an empty capture", () => {
    const s = new EnvelopeScanner(100, 0x80);
    s.push(envelope(0, 0x80));
    expect(s.ended).toBe(true);
    expect(s.lastCaptured?.length).toBe(0);
  });

  it("captures at most 64 KiB: an end envelope of exactly 65536 bytes is captured, a larger one is not", () => {
    const at = new EnvelopeScanner(1 << 20, 0x02);
    at.push(envelope(65536, 0x02, 7));
    expect(at.lastCaptured?.length).toBe(65536);
    const over = new EnvelopeScanner(1 << 20, 0x02);
    over.push(envelope(65537, 0x02));
    expect(over.ended).toBe(true);
    expect(over.lastCaptured).toBeUndefined();
  });

  it("without a capture mask nothing is captured and nothing ends the stream", () => {
    const s = new EnvelopeScanner(100);
    s.push(Buffer.concat([envelope(2, 0x02), envelope(2, 0xff)]));
    expect(s.ended).toBe(false);
    expect(s.lastCaptured).toBeUndefined();
  });

  it("the capture holds the payload bytes of that envelope only, from chunk views at any offset", () => {
    const s = new EnvelopeScanner(100, 0x02);
    const payload = Buffer.from("end-of-stream");
    const end = Buffer.concat([Buffer.from([0x02, 0, 0, 0, payload.length]), payload]);
    const stream = Buffer.concat([envelope(5, 0, 0x11), end]);
    const backing = Buffer.concat([Buffer.alloc(3, 0xee), stream]).subarray(3);
    s.push(backing.subarray(0, 12));
    s.push(backing.subarray(12));
    expect(s.lastCaptured?.toString()).toBe("end-of-stream");
  });
});

describe("BodyCounter", () => {
  it("accepts up to exactly the limit over all chunks, refuses past it, and is never at a boundary", () => {
    const c = new BodyCounter(10);
    expect(c.push(new Uint8Array(4))).toBe(true);
    expect(c.push(new Uint8Array(6))).toBe(true);
    expect(c.atBoundary).toBe(false);
    expect(c.push(new Uint8Array(1))).toBe(false);
  });
});
