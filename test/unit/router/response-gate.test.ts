import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EnvelopeScanner } from "../../../src/router/envelope-scanner.js";
import { Base64EnvelopeGate, EnvelopeGate, holdBytesFor } from "../../../src/router/response-limit.js";

const LIMIT = 16;

function envelope(size: number, flags = 0): Buffer {
  const e = Buffer.alloc(5 + size, 0xab);
  e.writeUInt8(flags, 0);
  e.writeUInt32BE(size, 1);
  return e;
}

/** Splits bytes at the given cut points (any chunking a network may produce). */
function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of [...points, bytes.length]) {
    if (p > at) out.push(bytes.subarray(at, p));
    at = Math.max(at, p);
  }
  return out;
}

/** Whole envelopes' total length at the start of `bytes` (where a boundary-ending prefix stops). */
function wholeLength(bytes: Buffer): number {
  let i = 0;
  while (bytes.length - i >= 5) {
    const next = i + 5 + bytes.readUInt32BE(i + 1);
    if (next > bytes.length) break;
    i = next;
  }
  return i;
}

describe("EnvelopeGate", () => {
  it("forwards exactly the whole envelopes before the first oversize one, however the bytes are chunked", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 * LIMIT }), { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (sizes, cuts) => {
        const envelopes = sizes.map((s) => envelope(s));
        const stream = Buffer.concat(envelopes);
        const firstOver = sizes.findIndex((s) => s > LIMIT);
        const expected = Buffer.concat(firstOver < 0 ? envelopes : envelopes.slice(0, firstOver));
        const gate = new EnvelopeGate(new EnvelopeScanner(LIMIT), holdBytesFor(LIMIT));
        const out: Buffer[] = [];
        let ok = true;
        for (const c of chunked(stream, cuts)) {
          if (!gate.push(c, (b) => out.push(b))) {
            ok = false;
            break;
          }
          // Whatever comes next (nothing: the provider died), the caller sits at a boundary.
          const sent = Buffer.concat(out);
          expect(gate.atBoundary).toBe(true);
          expect(wholeLength(sent)).toBe(sent.length);
        }
        if (ok) gate.flush((b) => out.push(b));
        expect(ok).toBe(firstOver < 0);
        expect(Buffer.concat(out).equals(expected)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("with the limit disabled, a message past the hold budget passes on as it comes (no longer at a boundary)", () => {
    const gate = new EnvelopeGate(new EnvelopeScanner(Number.MAX_SAFE_INTEGER), 5 + 8);
    const big = envelope(20);
    const out: Buffer[] = [];
    gate.push(big.subarray(0, 10), (b) => out.push(b));
    expect(out).toEqual([]);
    gate.push(big.subarray(10, 15), (b) => out.push(b));
    expect(Buffer.concat(out).equals(big.subarray(0, 15))).toBe(true);
    expect(gate.atBoundary).toBe(false);
    gate.push(Buffer.concat([big.subarray(15), envelope(1).subarray(0, 3)]), (b) => out.push(b));
    expect(Buffer.concat(out).equals(big)).toBe(true);
    expect(gate.atBoundary).toBe(true);
  });

  it("forwards chunks as views, never copies", () => {
    const gate = new EnvelopeGate(new EnvelopeScanner(LIMIT), holdBytesFor(LIMIT));
    const chunk = Buffer.concat([envelope(3), envelope(4)]);
    const out: Buffer[] = [];
    gate.push(chunk, (b) => out.push(b));
    expect(out).toEqual([chunk]);
    expect(out[0]!.buffer).toBe(chunk.buffer);
  });
});

describe("Base64EnvelopeGate (gRPC-Web text)", () => {
  const decodeRuns = (text: string) =>
    Buffer.concat((text.match(/[^=]*=*/g) ?? []).filter((r) => r.length > 0).map((r) => Buffer.from(r, "base64")));

  it("passes the whole envelopes before the first oversize one, and ends at a boundary, whatever the padded runs and chunking", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 2 * LIMIT }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.nat(),
        (sizes, runCuts, chunkCuts, dieAt) => {
          const envelopes = sizes.map((s) => envelope(s));
          const bytes = Buffer.concat(envelopes);
          // Servers may base64 the body in several runs, each padded on its own.
          const text = chunked(bytes, runCuts).map((run) => run.toString("base64")).join("");
          const chunks = chunked(Buffer.from(text, "latin1"), chunkCuts);
          // The provider dies after `dieAt` chunks (or sends them all).
          const upTo = dieAt % (chunks.length + 1);
          const gate = new Base64EnvelopeGate(new EnvelopeScanner(LIMIT), holdBytesFor(LIMIT));
          const out: string[] = [];
          let ok = true;
          for (const c of chunks.slice(0, upTo)) {
            if (!gate.push(c, (t) => out.push(t))) {
              ok = false;
              break;
            }
          }
          if (upTo === chunks.length && ok) gate.flush((t) => out.push(t));
          else gate.end((t) => out.push(t));
          const sent = decodeRuns(out.join(""));
          expect(gate.atBoundary).toBe(true);
          expect(wholeLength(sent)).toBe(sent.length);
          const firstOver = sizes.findIndex((s) => s > LIMIT);
          const allowed = Buffer.concat(firstOver < 0 ? envelopes : envelopes.slice(0, firstOver));
          expect(allowed.subarray(0, sent.length).equals(sent)).toBe(true);
          if (upTo === chunks.length) {
            expect(ok).toBe(firstOver < 0);
            expect(sent.equals(allowed)).toBe(true);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
