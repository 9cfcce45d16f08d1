import * as net from "node:net";

/**
 * A deliberately impolite HTTP/2 client speaking raw frames, for flood tests: unlike
 * Node's client it does not wait for stream slots, so the server's own limits are tested.
 */
export const FRAME = { HEADERS: 0x1, RST_STREAM: 0x3, SETTINGS: 0x4, GOAWAY: 0x7 } as const;
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK "literal without indexing, indexed name" (4-bit prefix), no Huffman; values < 127 bytes. */
function literal(nameIndex: number, value: string): Buffer {
  const v = Buffer.from(value, "latin1");
  const name = nameIndex < 15 ? Buffer.from([nameIndex]) : Buffer.from([0x0f, nameIndex - 15]);
  return Buffer.concat([name, Buffer.from([v.length]), v]);
}

export interface RawSession {
  /** The server's SETTINGS values by id (3 = max concurrent streams). */
  settings: Map<number, number>;
  /** Stream ids the server reset, with the error code. */
  resets: Map<number, number>;
  goaway?: { lastStreamId: number; code: number };
  closed: boolean;
  /**
   * Resolves once `condition` holds, re-checked on every frame the server sends and on close;
   * rejects after `timeoutMs` (a generous bound, not a measurement) naming `what`.
   */
  until(condition: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** Opens a stream with request headers and leaves it open (no END_STREAM). */
  open(streamId: number, path: string, authorization?: string): void;
  destroy(): void;
}

export function connectRaw(port: number): Promise<RawSession> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const waiters = new Set<() => void>();
    const changed = () => {
      for (const check of [...waiters]) check();
    };
    const session: RawSession = {
      settings: new Map(),
      resets: new Map(),
      closed: false,
      until(condition, what, timeoutMs = 20_000) {
        return new Promise<void>((done, fail) => {
          const timer = setTimeout(() => {
            waiters.delete(check);
            fail(new Error(`raw HTTP/2 session: ${what} did not happen within ${timeoutMs} ms`));
          }, timeoutMs);
          const check = () => {
            if (!condition()) return;
            clearTimeout(timer);
            waiters.delete(check);
            done();
          };
          waiters.add(check);
          check();
        });
      },
      open(streamId, path, authorization) {
        const block = Buffer.concat([
          Buffer.from([0x83, 0x86]), // :method POST, :scheme http (static table)
          literal(4, path), // :path
          literal(1, `127.0.0.1:${port}`), // :authority
          literal(31, "application/connect+json"), // content-type
          authorization === undefined ? Buffer.alloc(0) : literal(23, authorization),
        ]);
        socket.write(frame(FRAME.HEADERS, 0x4 /* END_HEADERS */, streamId, block));
      },
      destroy: () => socket.destroy(),
    };
    let buffered = Buffer.alloc(0);
    let ready = false;
    socket.on("error", reject);
    socket.on("close", () => {
      session.closed = true;
      changed();
    });
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 9) {
        const length = buffered.readUIntBE(0, 3);
        if (buffered.length < 9 + length) break;
        const type = buffered.readUInt8(3);
        const flags = buffered.readUInt8(4);
        const streamId = buffered.readUInt32BE(5) & 0x7fffffff;
        const payload = buffered.subarray(9, 9 + length);
        buffered = buffered.subarray(9 + length);
        if (type === FRAME.SETTINGS && !(flags & 0x1)) {
          for (let i = 0; i + 6 <= payload.length; i += 6) session.settings.set(payload.readUInt16BE(i), payload.readUInt32BE(i + 2));
          socket.write(frame(FRAME.SETTINGS, 0x1, 0));
          if (!ready) {
            ready = true;
            resolve(session);
          }
        } else if (type === FRAME.RST_STREAM) session.resets.set(streamId, payload.readUInt32BE(0));
        else if (type === FRAME.GOAWAY) session.goaway = { lastStreamId: payload.readUInt32BE(0) & 0x7fffffff, code: payload.readUInt32BE(4) };
      }
      changed();
    });
    socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
  });
}
