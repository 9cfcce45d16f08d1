import * as net from "node:net";

/**
 * A loopback port free right now. Another process could take it before the plugin binds it;
 * the plugin then fails to start and is restarted with a fresh port.
 */
export function freePort(hostname = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, hostname, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
