import { randomBytes } from "node:crypto";
import { createContextKey, type ContextValues } from "@connectrpc/connect";
import { HEADER_REQUEST_ID } from "../protocol/constants.js";

/**
 * The request id of a call, passed explicitly (a host RPC's context values, a routed call's end info)
 * so audit records name the request they belong to. Not an AsyncLocalStorage: one in the process turns
 * async hooks on for every promise and callback of every call (~5 % of a routed call's CPU).
 */
export const requestIdKey = createContextKey<string | undefined>(undefined, { description: "plugboard request id" });

/** The request id of a host RPC (undefined outside one: the audit log then mints one). */
export function requestIdOf(values: ContextValues): string | undefined {
  return values.get(requestIdKey);
}

/** A caller-chosen id is kept only when short and plain: it lands in logs, so no control characters. */
const ACCEPTABLE = /^[A-Za-z0-9._:-]{1,128}$/;

/*
 * Request ids need to be unique, not secret: a random per-process prefix and a counter
 * cost nothing per request (this runs on every call, routed ones included).
 */
const prefix = `req_${randomBytes(9).toString("base64url")}`;
let counter = 0;

export function newRequestId(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `${prefix}${counter.toString(36)}`;
}

/** The `plugboard-request-id` header when it is acceptable, else a fresh id. */
export function requestIdFrom(headers: Record<string, string | string[] | undefined>): string {
  const given = headers[HEADER_REQUEST_ID];
  const value = Array.isArray(given) ? given[0] : given;
  return value !== undefined && ACCEPTABLE.test(value) ? value : newRequestId();
}
