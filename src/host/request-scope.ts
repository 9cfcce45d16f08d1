import type * as http2 from "node:http2";
import type { ContextValues } from "@connectrpc/connect";
import { requestIdFrom, requestIdKey } from "../audit/request-id.js";
import { HEADER_REQUEST_ID } from "../protocol/constants.js";
import { streamAuthenticatedKey } from "../server-limits/index.js";

interface Scope {
  requestId: string;
  authenticated: () => void;
}

/**
 * What a host request carries to the code serving it, passed explicitly rather than through an
 * async context: its request id (audit records; echoed in `plugboard-request-id`) and how to mark
 * its stream authenticated (server limits). connect-es gets both as context values.
 */
export function createRequestScopes() {
  const scopes = new WeakMap<http2.Http2ServerRequest, Scope>();
  return {
    enter(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse, authenticated: () => void): void {
      const requestId = requestIdFrom(req.headers);
      res.setHeader(HEADER_REQUEST_ID, requestId);
      scopes.set(req, { requestId, authenticated });
    },
    /** Puts the request's scope into its connect-es context values. */
    fill(req: http2.Http2ServerRequest, values: ContextValues): void {
      const scope = scopes.get(req);
      if (scope === undefined) return;
      values.set(requestIdKey, scope.requestId);
      values.set(streamAuthenticatedKey, scope.authenticated);
    },
  };
}
