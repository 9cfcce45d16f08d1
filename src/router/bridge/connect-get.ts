import { Code, ConnectError } from "@connectrpc/connect";

/** Percent-decoding to bytes (URLSearchParams would decode to UTF-8 text and break binary). */
function percentDecode(s: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 /* % */ && i + 2 < s.length + 0 && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c === 43 /* + */) out.push(32);
    else out.push(c & 0xff);
  }
  return Buffer.from(out);
}

/** The request message of a Connect GET call (`?message=…[&base64=1]`), still compressed if it was. */
export function connectGetMessage(rawPath: string): Buffer | ConnectError {
  const q = rawPath.indexOf("?");
  const params = new Map<string, string>();
  if (q >= 0) {
    for (const pair of rawPath.slice(q + 1).split("&")) {
      const eq = pair.indexOf("=");
      if (eq > 0) params.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
  }
  const message = params.get("message");
  if (message === undefined) return new ConnectError("Connect GET request without a message parameter", Code.InvalidArgument);
  if (params.get("base64") === "1") return Buffer.from(decodeURIComponent(message), "base64url");
  return percentDecode(message);
}
