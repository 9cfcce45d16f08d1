import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { X509Certificate } from "node:crypto";
import { ConnectError } from "@connectrpc/connect";
import type { Authenticator } from "../../../src/identity/identity.js";

export interface AuthResult {
  status: number;
  body: { subject?: string; roles?: string[]; code?: number; message?: string; absent?: boolean };
}

export interface MtlsTestServer {
  url: string;
  /** Handshake failures the TLS layer reported (the authenticator never ran for these). */
  tlsErrors: Error[];
  /** How many requests reached the authenticator. */
  authCalls(): number;
  close(): Promise<void>;
}

/** A real mTLS HTTP/2 server that runs `authenticate` on each request's verified peer certificate. */
export async function startMtlsServer(opts: {
  ca: string;
  cert: string;
  key: string;
  authenticate: Authenticator;
}): Promise<MtlsTestServer> {
  const server = http2.createSecureServer({
    ca: opts.ca,
    cert: opts.cert,
    key: opts.key,
    requestCert: true,
    rejectUnauthorized: true,
    allowHTTP1: false,
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  const tlsErrors: Error[] = [];
  let authCalls = 0;
  server.on("tlsClientError", (err) => tlsErrors.push(err));
  server.on("request", (req, res) => {
    authCalls++;
    const socket = req.socket as import("node:tls").TLSSocket;
    const peer: X509Certificate | undefined = socket.getPeerX509Certificate();
    const headers = new Headers();
    opts
      .authenticate({ headers, ...(peer ? { peerCertificate: peer } : {}) })
      .then(
        (identity) => {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify(identity ? { subject: identity.subject, roles: identity.roles } : { absent: true }));
        },
        (err: unknown) => {
          const ce = ConnectError.from(err);
          res.writeHead(401, { "content-type": "application/json" });
          res.end(JSON.stringify({ code: ce.code, message: ce.rawMessage }));
        },
      );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    tlsErrors,
    authCalls: () => authCalls,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** One GET over a fresh HTTP/2 TLS session with the given client certificate; rejects on TLS failure. */
export async function requestWithClientCert(
  url: string,
  tls: { ca: string; cert?: string; key?: string },
): Promise<AuthResult> {
  const session = http2.connect(url, { ca: tls.ca, ...(tls.cert ? { cert: tls.cert, key: tls.key } : {}) });
  try {
    return await new Promise<AuthResult>((resolve, reject) => {
      // A refused client certificate (TLS 1.3) surfaces after the handshake: the stream
      // closes without a response and the session then fails with the server's alert.
      let sessionError: Error | undefined;
      session.on("error", (err) => {
        sessionError = err;
        reject(err);
      });
      const req = session.request({ ":path": "/", ":method": "GET" });
      let status = 0;
      let data = "";
      req.on("error", (err) => (sessionError ??= err));
      req.on("response", (headers) => {
        status = Number(headers[":status"]);
      });
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => (data += chunk));
      req.on("close", () => {
        if (status === 0) {
          const fail = () => reject(sessionError ?? new Error("stream closed without a response"));
          if (session.closed || session.destroyed) fail();
          else session.once("close", fail);
          return;
        }
        try {
          resolve({ status, body: JSON.parse(data) as AuthResult["body"] });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
      req.end();
    });
  } finally {
    session.destroy();
  }
}
