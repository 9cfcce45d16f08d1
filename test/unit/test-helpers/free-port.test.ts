/**
 * onFreePort: a server started on a borrowed port that a parallel test file took meanwhile is started
 * again on another port; any other failure is the caller's.
 */
import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { onFreePort } from "../../helpers/free-port.js";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const listen = (port: number) =>
  new Promise<Server>((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      servers.push(server);
      resolve(server);
    });
  });

describe("onFreePort", () => {
  it("starts again on another port when the borrowed one was taken before the server bound it", async () => {
    const tried: number[] = [];
    const server = await onFreePort(async (port) => {
      tried.push(port);
      if (tried.length === 1) await listen(port); // the parallel file wins the race
      return listen(port);
    });
    expect(tried).toHaveLength(2);
    expect(tried[1]).not.toBe(tried[0]);
    expect((server.address() as { port: number }).port).toBe(tried[1]);
  });

  it("does not retry other failures, and gives up after its attempts", async () => {
    let calls = 0;
    await expect(onFreePort(async () => (calls++, Promise.reject(new Error("redis-server exited with 1: bad config"))))).rejects.toThrow("bad config");
    expect(calls).toBe(1);
    calls = 0;
    const taken = async (port: number) => {
      calls++;
      await listen(port);
      return listen(port);
    };
    await expect(onFreePort(taken, 3)).rejects.toThrow(/EADDRINUSE/);
    expect(calls).toBe(3);
  });
});
