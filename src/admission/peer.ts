import type { IncomingMessage } from "node:http";
import type * as http2 from "node:http2";
import { createContextKey, type HandlerContext } from "@connectrpc/connect";

/** The TCP peer's address, set from the node request's socket in the adapter's contextValues (never from a header). */
export const peerAddressKey = createContextKey<string | undefined>(undefined, { description: "TCP peer address" });

/** The remote address of the connection a request arrived on. */
export function peerAddressOf(req: http2.Http2ServerRequest | IncomingMessage): string | undefined {
  return req.socket?.remoteAddress;
}

const sessionAddresses = new WeakMap<http2.Http2Session, string | undefined>();
/**
 * The remote address of an HTTP/2 session, read once per session: the socket is reached through
 * a proxy object, and once the session is gone it cannot be read at all.
 */
export function peerAddressOfSession(session: http2.Http2Session | undefined): string | undefined {
  if (session === undefined) return undefined;
  if (sessionAddresses.has(session)) return sessionAddresses.get(session);
  const address = session.destroyed ? undefined : session.socket?.remoteAddress;
  sessionAddresses.set(session, address);
  return address;
}

/**
 * The key a per-peer budget is counted under: IPv4 as is (IPv4-mapped IPv6 unwrapped), IPv6 by its /64,
 * since one host usually holds a whole /64 and could otherwise rotate addresses to mint fresh budgets.
 */
export function peerKey(address: string | undefined): string {
  if (address === undefined || address === "") return "unknown";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(":")) return address;
  const [head = "", tail = ""] = address.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === "" ? [] : tail.split(":");
  const groups = address.includes("::") ? [...left, ...Array(8 - left.length - right.length).fill("0"), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

/** The peer key of a host RPC's caller. */
export function peerOf(context: HandlerContext): string {
  return peerKey(context.values.get(peerAddressKey));
}
