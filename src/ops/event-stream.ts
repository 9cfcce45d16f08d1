import type * as http from "node:http";
import type { FleetState } from "./fleet-state.js";

export interface EventStreamOptions {
  snapshot: () => Promise<FleetState>;
  /** While a stream is open, the state is also re-read this often (changes no event announces). Default 1 000 ms. */
  pollMs?: number;
  /** Concurrent /api/events streams; more are refused with 503. Default 16. */
  maxStreams?: number;
  onError?: (error: unknown) => void;
}

export interface EventStreams {
  /** Serves one SSE stream: the state now, then the state again whenever it changed. */
  open(res: http.ServerResponse): void;
  /** Something may have changed (a store event, an audit event): re-read soon. */
  changed(): void;
  close(): void;
}

/** The state without its timestamp, to tell a real change from a re-read. */
const fingerprint = (state: FleetState) => JSON.stringify({ ...state, at: 0 });

/** Server-sent events for the dashboard: `event: state` with the whole FleetState as JSON. */
export function createEventStreams(options: EventStreamOptions): EventStreams {
  const pollMs = options.pollMs ?? 1_000;
  const maxStreams = options.maxStreams ?? 16;
  const streams = new Set<http.ServerResponse>();
  let last = "";
  let pending: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  let keepAlive: NodeJS.Timeout | undefined;

  const send = (res: http.ServerResponse, data: string) => res.write(`event: state\ndata: ${data}\n\n`);

  async function publish(): Promise<void> {
    if (streams.size === 0) return;
    const state = await options.snapshot();
    const print = fingerprint(state);
    if (print === last) return;
    last = print;
    const data = JSON.stringify(state);
    for (const res of streams) send(res, data);
  }

  const changed = () => {
    // Bursts of events (a plugin registering five services) become one re-read.
    if (pending || streams.size === 0) return;
    pending = setTimeout(() => {
      pending = undefined;
      publish().catch((e: unknown) => options.onError?.(e));
    }, 50);
    pending.unref();
  };

  const stopTimers = () => {
    clearInterval(poll);
    clearInterval(keepAlive);
    poll = keepAlive = undefined;
  };

  return {
    open(res) {
      if (streams.size >= maxStreams) {
        res.writeHead(503, { "content-type": "text/plain; charset=utf-8", "retry-after": "5" });
        res.end(`too many dashboard streams (ops maxEventStreams ${maxStreams})\n`);
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", "x-accel-buffering": "no" });
      streams.add(res);
      res.on("close", () => {
        streams.delete(res);
        if (streams.size === 0) stopTimers();
      });
      // The newcomer needs the whole state: the next read goes to every stream, changed or not.
      last = "";
      changed();
      if (!poll) {
        poll = setInterval(changed, pollMs);
        poll.unref();
        keepAlive = setInterval(() => streams.forEach((s) => s.write(": keep-alive\n\n")), 15_000);
        keepAlive.unref();
      }
    },
    changed,
    close() {
      stopTimers();
      clearTimeout(pending);
      for (const res of streams) res.end();
      streams.clear();
    },
  };
}
