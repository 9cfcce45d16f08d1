/**
 * Follows the 5-byte envelope prefixes (flags, uint32 big-endian length) of an enveloped byte
 * stream without copying or decoding payloads: enough to enforce a per-message size limit, to
 * know whether the stream sits at a message boundary (where an error can still be appended
 * cleanly) and to capture the small end-of-stream envelope for metrics.
 */
export class EnvelopeScanner {
  /** Payload bytes still to come in the current envelope. */
  private need = 0;
  /** Prefix bytes seen of the next envelope (0..4). */
  private prefixPos = 0;
  private length = 0;
  private flags = 0;
  private captured: Buffer[] | undefined;
  /** Payload of the last envelope whose flags matched `captureMask`, once complete. */
  lastCaptured: Buffer | undefined;
  /**
   * An envelope with a `captureMask` flag (the end-of-stream message) was seen whole: the answer is
   * complete even if its HTTP/2 stream never ends, and nothing may be appended after it.
   */
  ended = false;
  /**
   * After push() returned false: offset in that chunk where the oversize envelope's prefix began
   * (negative when it began in an earlier chunk). Bytes before it are whole envelopes.
   */
  rejectedAt = 0;
  /**
   * After push(): offset in that chunk just past the last envelope it completed (0 when it began at a
   * boundary and completed none; -1 when the whole chunk lies inside one envelope).
   */
  boundaryAt = 0;
  private rejected = false;

  constructor(
    private readonly maxMessageBytes: number,
    /** Capture envelopes with any of these flag bits (0: capture nothing). */
    private readonly captureMask = 0,
  ) {}

  /** Scan a chunk; false when an envelope announces more than maxMessageBytes. */
  push(chunk: Uint8Array): boolean {
    if (this.rejected) return false;
    const n = chunk.length;
    let i = 0;
    this.boundaryAt = this.need === 0 && this.prefixPos === 0 ? 0 : -1;
    while (i < n) {
      if (this.need > 0) {
        const take = Math.min(this.need, n - i);
        if (this.captured) this.captured.push(Buffer.from(chunk.buffer, chunk.byteOffset + i, take));
        this.need -= take;
        i += take;
        if (this.need === 0) {
          this.completeEnvelope();
          this.boundaryAt = i;
        }
        continue;
      }
      const b = chunk[i++] as number;
      if (this.prefixPos === 0) {
        this.flags = b;
        this.length = 0;
      } else {
        this.length = this.length * 256 + b;
      }
      if (++this.prefixPos === 5) {
        this.prefixPos = 0;
        if (this.length > this.maxMessageBytes) {
          this.rejected = true;
          this.rejectedAt = i - 5;
          return false;
        }
        this.need = this.length;
        if (this.captureMask !== 0 && (this.flags & this.captureMask) !== 0 && this.length <= 65536) {
          this.captured = [];
        }
        if (this.need === 0) {
          this.completeEnvelope();
          this.boundaryAt = i;
        }
      }
    }
    return true;
  }

  /**
   * True between envelopes: appending a new envelope now yields a well-formed stream. After a
   * rejection, true for the bytes before the oversize envelope (what a caller may have forwarded).
   */
  get atBoundary(): boolean {
    return this.need === 0 && this.prefixPos === 0;
  }

  /** Bytes of the next envelope's prefix seen so far (0..4): a chunk may end inside a prefix. */
  get prefixBytes(): number {
    return this.prefixPos;
  }

  private completeEnvelope(): void {
    if ((this.flags & this.captureMask) !== 0) this.ended = true;
    if (this.captured) {
      this.lastCaptured = Buffer.concat(this.captured);
      this.captured = undefined;
    }
  }
}

/** Counts the bytes of a non-enveloped body (Connect unary) against the limit. */
export class BodyCounter {
  private total = 0;
  constructor(private readonly maxBytes: number) {}
  push(chunk: Uint8Array): boolean {
    this.total += chunk.length;
    return this.total <= this.maxBytes;
  }
  get atBoundary(): boolean {
    return false;
  }
}
