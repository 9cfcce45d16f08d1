import type * as http2 from "node:http2";
import { createContextKey } from "@connectrpc/connect";

/**
 * The key per-peer limits count a remote peer under: its IPv4 address, or the /64 prefix of an
 * IPv6 address (one host usually holds a whole /64, so per-address counting would not bind it).
 */
export function peerKey(address: string | undefined): string {
  if (!address) return "unknown";
  const bare = address.split("%")[0]!.toLowerCase();
  if (bare.startsWith("::ffff:") && bare.includes(".")) return bare.slice(7);
  if (!bare.includes(":")) return bare;
  const [head = "", tail] = bare.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

/** The peer key of an HTTP/2 request's connection. */
export function peerOf(req: http2.Http2ServerRequest): string {
  return peerKey(req.socket?.remoteAddress);
}

/** The caller's peer key, for handlers that keep per-peer limits (set in the adapter's contextValues). */
export const peerKeyContext = createContextKey<string>("unknown", { description: "remote peer (per-peer limits)" });
