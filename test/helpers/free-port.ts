import { createServer } from "node:net";

/**
 * For servers that cannot bind port 0 and report it (Redis has no `--port 0`, nor does an nginx conf):
 * borrow a free port from the kernel through a throwaway listener. Everything else binds port 0.
 * A borrowed port can be taken by a parallel test file before the server binds it: start such servers
 * with `onFreePort`, which tries again on another port.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const PORT_TAKEN = /address already in use|EADDRINUSE/i;

/** Starts a server on a borrowed port; when that port was taken meanwhile (its error says so), on another one. */
export async function onFreePort<T>(start: (port: number) => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (err) {
      if (attempt >= attempts || !PORT_TAKEN.test(String(err))) throw err;
    }
  }
}
