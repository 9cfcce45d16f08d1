import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { HEADER_AUTHORIZATION } from "../protocol/constants.js";
import { sendWithCredential } from "./replay.js";
import type { Session } from "./session.js";

/**
 * Adds the current runtime token to every call to the host. When the host answers
 * Unauthenticated (token rotated under the call, host restarted, runtime expired), the session
 * recovers (refresh or re-handshake) and a replayable call is sent once more with the new token.
 */
export function createAuthInterceptor(session: Session): Interceptor {
  return (next) => async (req) => {
    if (req.stream && req.method.methodKind !== "server_streaming") {
      // Client and bidi streams cannot be resent; still recover so the next call succeeds.
      const used = await session.token();
      req.header.set(HEADER_AUTHORIZATION, `Bearer ${used}`);
      try {
        return await next(req);
      } catch (e) {
        const err = ConnectError.from(e);
        if (err.code === Code.Unauthenticated) session.recover(used).catch(() => undefined);
        throw err;
      }
    }
    return sendWithCredential(req, next, {
      current: () => session.token(),
      renew: (refused) => session.recover(refused),
      attach: (r, token) => r.header.set(HEADER_AUTHORIZATION, `Bearer ${token}`),
      refusedWith: Code.Unauthenticated,
    });
  };
}
