import { Code, ConnectError, type StreamRequest, type StreamResponse, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";

type AnyRequest = UnaryRequest | StreamRequest;
type AnyResponse = UnaryResponse | StreamResponse;

/**
 * A request that can be sent again: unary requests always; server-streaming requests
 * too, since their input is one message (buffered here). Client and bidi streams are
 * consumed as they are sent, so they are never replayed.
 */
export async function replayable(req: AnyRequest): Promise<(() => AnyRequest) | undefined> {
  if (!req.stream) return () => req;
  if (req.method.methodKind !== "server_streaming") return undefined;
  const messages: unknown[] = [];
  for await (const m of req.message) messages.push(m);
  return () => ({ ...req, message: createAsyncIterable(messages) }) as StreamRequest;
}

/**
 * Sends `req`, and sends it again while `onError(err, attempt)` resolves true, as long as the
 * call failed before its first response message: either `next` rejected, or (Connect and
 * gRPC-Web streams carry errors in the body) the first read of the response stream failed.
 * Once a message was delivered, errors go to the caller.
 */
export async function sendWithReplays(
  req: AnyRequest,
  next: (req: AnyRequest) => Promise<AnyResponse>,
  onError: (err: ConnectError, attempt: number) => Promise<boolean>,
): Promise<AnyResponse> {
  const again = await replayable(req);
  if (!again) return next(req);
  for (let attempt = 1; ; attempt++) {
    let res: AnyResponse;
    try {
      res = await next(again());
    } catch (e) {
      const err = ConnectError.from(e);
      if (await onError(err, attempt)) continue;
      throw err;
    }
    if (!res.stream) return res;
    const it = res.message[Symbol.asyncIterator]();
    let first: IteratorResult<unknown>;
    try {
      first = await it.next();
    } catch (e) {
      const err = ConnectError.from(e);
      if (await onError(err, attempt)) continue;
      throw err;
    }
    return { ...res, message: rest(first, it) } as StreamResponse;
  }
}

async function* rest(first: IteratorResult<unknown>, it: AsyncIterator<unknown>): AsyncGenerator<unknown> {
  let done = first.done ?? false;
  try {
    if (done) return;
    yield first.value;
    for (;;) {
      const r = await it.next();
      if (r.done) {
        done = true;
        return;
      }
      yield r.value;
    }
  } finally {
    // The caller stopped early (break, abort): end the underlying call too.
    if (!done) await it.return?.();
  }
}

export interface RenewableCredential {
  /** The credential to send now. */
  current(): Promise<string>;
  /** Called with the value the host refused; resolves once a fresh one is available. */
  renew(refused: string): Promise<void>;
  /** Puts the credential on a request. */
  attach(req: AnyRequest, value: string): void;
  /** The code with which the host refuses a stale credential. */
  refusedWith: Code;
}

/**
 * Sends a call with a credential that can go stale under it (runtime token, grant): when the
 * host refuses it with `refusedWith`, the credential is renewed and a replayable call is sent
 * once more with the fresh one.
 */
export function sendWithCredential(
  req: AnyRequest,
  next: (req: AnyRequest) => Promise<AnyResponse>,
  credential: RenewableCredential,
): Promise<AnyResponse> {
  let used = "";
  return sendWithReplays(
    req,
    async (r) => {
      used = await credential.current();
      credential.attach(r, used);
      return next(r);
    },
    async (err, attempt) => {
      if (err.code !== credential.refusedWith || attempt > 1 || req.signal.aborted) return false;
      try {
        await credential.renew(used);
      } catch {
        return false;
      }
      return true;
    },
  );
}
