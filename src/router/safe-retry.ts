import http2 from "node:http2";
import { DEFAULT_LIMITS } from "../protocol/constants.js";
import type { UpstreamTarget } from "./upstream-pool.js";

const { NGHTTP2_REFUSED_STREAM } = http2.constants;

/**
 * One safe retry (issue 20): a call no provider processed goes once to another provider. Where the
 * router is sure nothing was processed, short of any response from the provider:
 * - the provider reset the stream with REFUSED_STREAM, or sent GOAWAY with a last-stream-id below it
 *   (node reports both as REFUSED_STREAM): HTTP/2 (RFC 9113 §8.7) guarantees it was not processed;
 * A connection reset (ECONNRESET, EPIPE) is not enough: on a shared session it says only that SOME
 *   bytes went unread — another call's — while this one may have been processed before the provider died
 *   (gRPC's transparent retry draws the same line). Such calls end in one clean Unavailable, which callers
 *   may retry knowing their own idempotence; outlier ejection keeps the next calls away from the provider.
 * Pinned calls are never retried, and no call is retried twice.
 */
export function unprocessed(rstCode: number | undefined, _streamErrorCode?: string): boolean {
  return rstCode === NGHTTP2_REFUSED_STREAM;
}

/** Where a retried call goes instead: chosen (and signed for) by the router. */
export interface RetryTarget {
  target: UpstreamTarget;
  runtimeId: string;
  /** Signed `plugboard-caller` for the new provider's key. */
  callerHeader: string | undefined;
}

/**
 * Request bytes kept (by reference) until the provider accepts the stream, so they can be replayed
 * to another one: the first message's worth (the request message limit; 4 MiB when it is disabled).
 * Past it, the call can no longer be retried.
 */
export function replayBudgetFor(maxMessageBytes: number): number {
  return 5 + (maxMessageBytes === Infinity ? DEFAULT_LIMITS.maxMessageBytes : maxMessageBytes);
}

/**
 * The request bytes a retry replays: kept by reference (a single-frame request is one variable) until
 * the provider accepts the stream, within a budget; past it, or once accepted, nothing is kept and
 * the call can no longer be retried.
 */
export class RequestReplay<Chunk extends Uint8Array> {
  private first: Chunk | undefined;
  private more: Chunk[] | undefined;
  private bytes = 0;
  keeping = true;

  constructor(private readonly budget: number) {}

  keep(chunk: Chunk): void {
    if (!this.keeping) return;
    this.bytes += chunk.length;
    if (this.bytes > this.budget) this.stop();
    else if (this.first === undefined) this.first = chunk;
    else (this.more ??= []).push(chunk);
  }

  stop(): void {
    this.keeping = false;
    this.first = this.more = undefined;
  }

  /** What was kept, in order (undefined when the call can no longer be replayed); keeping stops. */
  take(): Chunk[] | undefined {
    if (!this.keeping) return undefined;
    const kept = this.first === undefined ? [] : [this.first, ...(this.more ?? [])];
    this.stop();
    return kept;
  }
}
