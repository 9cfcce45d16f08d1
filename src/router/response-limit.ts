import { DEFAULT_LIMITS } from "../protocol/constants.js";
import { Base64Decoder, Base64Encoder } from "./bridge/base64-stream.js";
import type { EnvelopeScanner } from "./envelope-scanner.js";

/**
 * How much of one unfinished message a gate holds back. With a response limit, the whole of any
 * allowed message (so the caller always sits at a boundary); with the limit disabled, the default
 * limit's worth — a larger message passes on as it comes, and a provider dying inside it ends in a reset.
 */
export function holdBytesFor(maxResponseMessageBytes: number): number {
  return 5 + (maxResponseMessageBytes === Infinity ? DEFAULT_LIMITS.maxResponseMessageBytes : maxResponseMessageBytes);
}

/**
 * Passes an enveloped answer on whole message by whole message, without copying payloads: a chunk's
 * complete envelopes go on as they come (most chunks end at a boundary: one write, no holding), the
 * unfinished envelope at its end is held (as views) until it completes. So what the caller received
 * always ends at a message boundary, where an error can still be written cleanly — the provider
 * dying mid-message, or announcing a message over the limit (that envelope is never forwarded).
 */
export class EnvelopeGate {
  /** Views of the unfinished envelope, held back until it is complete. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** The unfinished envelope outgrew the hold budget and is passing on as it comes. */
  private passing = false;

  constructor(
    private readonly scanner: EnvelopeScanner,
    private readonly holdBytes: number,
  ) {}

  /** Passes to `write` what may go now; false once a message over the limit was announced. */
  push(chunk: Buffer, write: (bytes: Buffer) => void): boolean {
    if (!this.scanner.push(chunk)) {
      // The oversize prefix began at `cut`; before it lie whole envelopes (and the held bytes they completed).
      const cut = this.scanner.rejectedAt;
      if (cut > 0) {
        this.flush(write);
        write(chunk.subarray(0, cut));
      }
      this.held = [];
      this.heldBytes = 0;
      return false;
    }
    const n = chunk.length;
    if (n === 0) return true;
    const boundary = this.scanner.boundaryAt;
    if (boundary < 0) {
      // The whole chunk continues one unfinished envelope.
      if (this.passing) write(chunk);
      else this.hold(chunk, write);
      return true;
    }
    // Up to `boundary`, the chunk completes what was held (or passing) and whole envelopes follow.
    this.passing = false;
    if (this.held.length > 0) this.flush(write);
    if (boundary === n) {
      write(chunk);
      return true;
    }
    if (boundary > 0) write(chunk.subarray(0, boundary));
    this.hold(boundary === 0 ? chunk : chunk.subarray(boundary), write);
    return true;
  }

  /** True when what was forwarded ends at a message boundary (an error may be appended). */
  get atBoundary(): boolean {
    return !this.passing;
  }

  /** Forward held bytes (at the end of the answer they are whatever the provider sent). */
  flush(write: (bytes: Buffer) => void): void {
    const held = this.held;
    if (held.length === 0) return;
    this.held = [];
    this.heldBytes = 0;
    for (let i = 0; i < held.length; i++) write(held[i]!);
  }

  private hold(bytes: Buffer, write: (bytes: Buffer) => void): void {
    this.held.push(bytes);
    this.heldBytes += bytes.length;
    if (this.heldBytes > this.holdBytes) {
      this.passing = true;
      this.flush(write);
    }
  }
}

/**
 * The same for gRPC-Web text answers, which are base64 (possibly several padded runs back to back):
 * decoded to follow the envelopes, re-encoded as they go on — copies, acceptable for this rare
 * protocol. A message boundary may fall inside a base64 quad, so `end()` pads what went out: after
 * it, an error frame (its own base64 run) can follow cleanly.
 */
export class Base64EnvelopeGate {
  private readonly decoder = new Base64Decoder();
  private readonly encoder = new Base64Encoder();
  private readonly gate: EnvelopeGate;
  private out: ((text: string) => void) | undefined;
  private readonly forward = (bytes: Buffer) => {
    const text = this.encoder.push(bytes);
    if (text.length > 0) this.out!(text);
  };

  constructor(scanner: EnvelopeScanner, holdBytes: number) {
    this.gate = new EnvelopeGate(scanner, holdBytes);
  }

  /** Passes base64 to `write` what may go now; false once a message over the limit was announced. */
  push(chunk: Buffer, write: (text: string) => void): boolean {
    this.out = write;
    return this.gate.push(this.decoder.push(chunk), this.forward);
  }

  get atBoundary(): boolean {
    return this.gate.atBoundary;
  }

  /** Forwards what is held (the answer ended) and pads the base64 written so far. */
  flush(write: (text: string) => void): void {
    this.out = write;
    this.gate.flush(this.forward);
    this.end(write);
  }

  /** Pads the base64 written so far (before an error frame is appended). */
  end(write: (text: string) => void): void {
    const rest = this.encoder.end();
    if (rest.length > 0) write(rest);
  }
}
