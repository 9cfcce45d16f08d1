/**
 * grpc-message as the gRPC spec (PROTOCOL-HTTP2.md) encodes it: percent-encode only `%` and bytes
 * outside 0x20–0x7E of the UTF-8 text. connect-es encodes with encodeURIComponent, which also
 * encodes `:`, spaces and more; readers that decode per the spec (grpc-js uses decodeURI) would
 * then show `%3A` to users.
 */
export function encodeGrpcMessage(text: string): string {
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return text;
  let out = "";
  for (const b of Buffer.from(text, "utf8")) {
    out += b < 0x20 || b > 0x7e || b === 0x25 ? `%${b < 16 ? "0" : ""}${b.toString(16).toUpperCase()}` : String.fromCharCode(b);
  }
  return out;
}
