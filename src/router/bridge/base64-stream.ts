/**
 * gRPC-Web-text bodies are base64. Chunks arrive at arbitrary boundaries, and a body may be
 * several base64 runs one after another (each padded), so decoding goes in 4-character groups,
 * each of which decodes on its own; encoding carries up to 2 bytes to the next chunk.
 */
export class Base64Decoder {
  private rest = "";
  push(chunk: Buffer): Buffer {
    const text = this.rest + chunk.toString("latin1").replace(/\s+/g, "");
    const whole = text.length - (text.length % 4);
    this.rest = text.slice(whole);
    // Node stops decoding at the first padding: decode each padded run on its own.
    const parts: Buffer[] = [];
    for (let start = 0; start < whole; ) {
      const pad = text.indexOf("=", start);
      const end = pad < 0 || pad >= whole ? whole : (Math.floor(pad / 4) + 1) * 4;
      parts.push(Buffer.from(text.slice(start, end), "base64"));
      start = end;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }
  /** True when no partial group is pending (the body ended cleanly). */
  get clean(): boolean {
    return this.rest.length === 0;
  }
}

export class Base64Encoder {
  private rest: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): string {
    const data = this.rest.length === 0 ? chunk : Buffer.concat([this.rest, chunk]);
    const whole = data.length - (data.length % 3);
    this.rest = data.subarray(whole);
    return data.subarray(0, whole).toString("base64");
  }
  end(): string {
    const out = this.rest.toString("base64");
    this.rest = Buffer.alloc(0);
    return out;
  }
}
