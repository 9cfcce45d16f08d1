import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import { HEADER_REQUEST_ID } from "../protocol/constants.js";

/**
 * The request id of the call being served, carried through async work so audit
 * records written deep inside a service still name the request they belong to.
 */
const current = new AsyncLocalStorage<string>();

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

export function runWithRequestId<T>(requestId: string, fn: () => T): T {
  return current.run(requestId, fn);
}

export function currentRequestId(): string | undefined {
  return current.getStore();
}
