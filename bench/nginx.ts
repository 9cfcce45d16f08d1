/**
 * The reference proxy: Debian's nginx with `grpc_pass` to the upstream, on h2c, one worker pinned
 * to core 1 like the Node proxies, run in the foreground (`daemon off`) from a temp prefix holding
 * its conf, pid file and logs (removed at the end, by a watchdog shell even when the bench is killed -9).
 * Its CPU is the sum over master and workers.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { childPids, freePort, killGroup, processCpuMicros, removeDir, spawnGroup, tempDir } from "./processes.js";

export const NGINX = "/usr/sbin/nginx";

export const haveNginx = (): boolean => spawnSync(NGINX, ["-v"]).status === 0;

export interface NginxProxy {
  url: string;
  /** CPU µs of the master and its workers. */
  cpuMicros(): number;
  stop(): Promise<void>;
}

export function nginxConf(prefix: string, port: number, upstreamPort: number): string {
  return `worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  # nginx sends one request per upstream connection at a time: keep enough of them for 64 in flight, reused.
  upstream provider { server 127.0.0.1:${upstreamPort}; keepalive 128; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${port} http2;
    http2_max_concurrent_streams 1024;
    # A client connection ends after 1000 requests by default (HTTP/2 too, since 1.19.7): h2load does not reconnect.
    keepalive_requests 1000000;
    location / { grpc_pass grpc://provider; }
  }
}
`;
}

export async function startNginx(upstreamUrl: string): Promise<NginxProxy> {
  const prefix = tempDir("plugboard-bench-nginx-");
  const port = await freePort();
  writeFileSync(join(prefix, "nginx.conf"), nginxConf(prefix, port, Number(new URL(upstreamUrl).port)));
  // Under a watchdog shell: if this process dies without cleaning up (kill -9), the shell's stdin
  // closes and it kills nginx's whole group and removes the prefix.
  const watchdog = 'bin="$1"; shift; "$bin" "$@" & read _; kill -KILL $!; rm -rf "$BENCH_NGINX_PREFIX"; kill -KILL 0';
  const args = ["-p", prefix, "-c", join(prefix, "nginx.conf"), "-e", join(prefix, "error.log")];
  const child = spawnGroup("sh", ["-c", watchdog, "sh", NGINX, ...args], 1, {
    stdio: ["pipe", "ignore", "pipe"],
    env: { ...process.env, BENCH_NGINX_PREFIX: prefix },
  });
  let errors = "";
  child.stderr!.on("data", (d: Buffer) => (errors += d.toString()));
  const stop = async () => {
    await killGroup(child);
    removeDir(prefix);
  };
  // Ready once it accepts connections (failed when nginx is gone first).
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null || (Date.now() - started > 500 && childPids(child.pid!).length === 0)) {
      await stop();
      throw new Error(`nginx exited: ${errors}`);
    }
    if (await accepts(port)) break;
    if (Date.now() - started > 10_000) {
      await stop();
      throw new Error(`nginx did not listen on ${port} within 10 s: ${errors}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const master = childPids(child.pid!)[0]!;
  return {
    url: `http://127.0.0.1:${port}`,
    cpuMicros: () => [master, ...childPids(master)].reduce((sum, p) => sum + processCpuMicros(p), 0),
    stop,
  };
}

async function accepts(port: number): Promise<boolean> {
  const { connect } = await import("node:net");
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}
