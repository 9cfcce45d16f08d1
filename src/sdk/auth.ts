import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { HEADER_AUTHORIZATION } from "../protocol/constants.js";
import { sendWithReplays } from "./replay.js";
import type { Session } from "./session.js";

/**
 * Adds the current runtime token to every call to the host. When the host answers
 * Unauthenticated (token rotated under the call, host restarted, runtime expired), the session
 * recovers (refresh or re-handshake) and a replayable call is sent once more with the new token.
 */
export function createAuthInterceptor(session: Session): Interceptor {
  return (next) => async (req) => {
    let used = "";
    if (req.stream && req.method.methodKind !== "server_streaming") {
      // Client and bidi streams cannot be resent; still recover so the next call succeeds.
      used = await session.token();
      req.header.set(HEADER_AUTHORIZATION, `Bearer ${used}`);
      try {
        return await next(req);
      } catch (e) {
        const err = ConnectError.from(e);
        if (err.code === Code.Unauthenticated) session.recover(used).catch(() => undefined);
        throw err;
      }
    }
    return sendWithReplays(
      req,
      async (r) => {
        used = await session.token();
        r.header.set(HEADER_AUTHORIZATION, `Bearer ${used}`);
        return next(r);
      },
      async (err, attempt) => {
        if (err.code !== Code.Unauthenticated || attempt > 1 || req.signal.aborted) return false;
        try {
          await session.recover(used);
        } catch {
          return false;
        }
        return true;
      },
    );
  };
}
