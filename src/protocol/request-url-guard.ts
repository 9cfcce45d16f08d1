/** What a handler's response must offer for a 400 (node:http and node:http2 responses both do). */
interface Answerable {
  readonly headersSent: boolean;
  writeHead(statusCode: number): unknown;
  end(): unknown;
}

/**
 * Wraps a connect-node adapter. The adapter builds each request's URL from its `:authority` (or Host)
 * and throws, synchronously, when that makes no URL (`::1:5`, `h:99999`); thrown from a server's request
 * handler, that is an uncaught exception ending the whole process, so one unauthenticated request
 * could stop a host or a plugin. Such a request is answered 400 instead; any other error is rethrown.
 */
export function answerMalformedUrls<Req, Res extends Answerable>(handler: (req: Req, res: Res) => void): (req: Req, res: Res) => void {
  return (req, res) => {
    try {
      handler(req, res);
    } catch (error) {
      if ((error as { code?: unknown } | undefined)?.code !== "ERR_INVALID_URL") throw error;
      if (!res.headersSent) res.writeHead(400);
      res.end();
    }
  };
}
