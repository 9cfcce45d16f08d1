import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EnvelopeScanner } from "../../../src/router/envelope-scanner.js";
import { Base64EnvelopeCounter, EnvelopeGate } from "../../../src/router/response-limit.js";

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

describe("EnvelopeGate", () => {
  it("forwards exactly the whole envelopes before the first oversize one, however the bytes are chunked", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 * LIMIT }), { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (sizes, cuts) => {
        const envelopes = sizes.map((s) => envelope(s));
        const stream = Buffer.concat(envelopes);
        const firstOver = sizes.findIndex((s) => s > LIMIT);
        const expected = Buffer.concat(firstOver < 0 ? envelopes : envelopes.slice(0, firstOver));
        const gate = new EnvelopeGate(new EnvelopeScanner(LIMIT));
        const out: Buffer[] = [];
        let ok = true;
        for (const c of chunked(stream, cuts)) {
          if (!gate.push(c, (b) => out.push(b))) {
            ok = false;
            break;
          }
        }
        if (ok) gate.flush((b) => out.push(b));
        expect(ok).toBe(firstOver < 0);
        expect(Buffer.concat(out).equals(expected)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("forwards chunks as views, never copies", () => {
    const gate = new EnvelopeGate(new EnvelopeScanner(LIMIT));
    const chunk = Buffer.concat([envelope(3), envelope(4)]);
    const out: Buffer[] = [];
    gate.push(chunk, (b) => out.push(b));
    expect(out).toEqual([chunk]);
    expect(out[0]!.buffer).toBe(chunk.buffer);
  });
});

describe("Base64EnvelopeCounter (gRPC-Web text)", () => {
  it("refuses exactly when some envelope is over the limit, whatever the padded runs and chunking", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 2 * LIMIT }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (sizes, runCuts, chunkCuts) => {
          const bytes = Buffer.concat(sizes.map((s) => envelope(s)));
          // Servers may base64 the body in several runs, each padded on its own.
          const text = chunked(bytes, runCuts).map((run) => run.toString("base64")).join("");
          const counter = new Base64EnvelopeCounter(new EnvelopeScanner(LIMIT));
          let ok = true;
          for (const c of chunked(Buffer.from(text, "latin1"), chunkCuts)) ok = counter.push(c) && ok;
          expect(ok).toBe(sizes.every((s) => s <= LIMIT));
        },
      ),
      { numRuns: 500 },
    );
  });
});
