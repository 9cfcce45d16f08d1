import { createServer } from "node:net";

/**
 * For servers that cannot bind port 0 and report it (Redis has no `--port 0`, nor does an nginx conf):
 * borrow a free port from the kernel through a throwaway listener. Everything else binds port 0.
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
