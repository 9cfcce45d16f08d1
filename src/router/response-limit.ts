import type { EnvelopeScanner } from "./envelope-scanner.js";

/**
 * Holds an enveloped answer to the response message limit without copying payloads: bytes pass
 * on as they come, except a chunk's trailing partial envelope prefix (at most 4 bytes, kept as a
 * view) until its length is known. The first envelope announcing more than the limit is not
 * forwarded at all, so what the caller received ends at a message boundary and an error can follow.
 */
export class EnvelopeGate {
  /** Views of the next envelope's prefix, held back until it is complete. */
  private held: Buffer[] = [];

  constructor(private readonly scanner: EnvelopeScanner) {}

  /** Passes to `write` what may go now; false once a message over the limit was announced. */
  push(chunk: Buffer, write: (bytes: Buffer) => void): boolean {
    if (!this.scanner.push(chunk)) {
      // The oversize prefix began at `cut`; before it lie whole envelopes (and any held prefix they completed).
      const cut = this.scanner.rejectedAt;
      if (cut > 0) {
        if (this.held.length > 0) this.flush(write);
        write(chunk.subarray(0, cut));
      }
      this.held = [];
      return false;
    }
    const pending = this.scanner.prefixBytes;
    const n = chunk.length;
    if (pending === 0) {
      if (this.held.length > 0) this.flush(write);
      write(chunk);
    } else if (pending <= n) {
      // The chunk ends inside a prefix that started in it.
      if (this.held.length > 0) this.flush(write);
      if (pending < n) write(chunk.subarray(0, n - pending));
      this.held.push(chunk.subarray(n - pending));
    } else {
      // The whole chunk continues a prefix that started earlier.
      this.held.push(chunk);
    }
    return true;
  }

  /** Forward held bytes (at the end of the answer they are whatever the provider sent). */
  flush(write: (bytes: Buffer) => void): void {
    const held = this.held;
    if (held.length === 0) return;
    this.held = [];
    for (let i = 0; i < held.length; i++) write(held[i]!);
  }
}

/**
 * gRPC-Web text answers are base64 (possibly several padded runs back to back): decoded here only
 * to follow the envelope prefixes — a copy, acceptable for this rare protocol. A message over the
 * limit cannot be cut out of base64 cleanly, so the caller ends the call with a reset.
 */
export class Base64EnvelopeCounter {
  /** Characters of an incomplete base64 quad, kept for the next chunk. */
  private carry = "";

  constructor(private readonly scanner: EnvelopeScanner) {}

  /** False once a message over the limit was announced. */
  push(chunk: Buffer): boolean {
    const text = this.carry + chunk.toString("latin1");
    const aligned = text.length - (text.length % 4);
    this.carry = text.slice(aligned);
    for (let start = 0; start < aligned; ) {
      const pad = text.indexOf("=", start);
      // A quad holding padding ends one base64 run; the next run starts after it.
      const end = pad < 0 || pad >= aligned ? aligned : (Math.floor(pad / 4) + 1) * 4;
      if (!this.scanner.push(Buffer.from(text.slice(start, end), "base64"))) return false;
      start = end;
    }
    return true;
  }
}
