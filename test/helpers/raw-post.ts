import http2 from "node:http2";

/** The HTTP status a raw HTTP/2 POST of `body` with exactly these headers is answered with (undefined: none came). */
export async function rawPostStatus(url: string, headers: http2.OutgoingHttpHeaders, body = "{}"): Promise<number | undefined> {
  const session = http2.connect(url);
  try {
    const req = session.request({ ":method": "POST", ...headers });
    req.on("error", () => undefined);
    let status: number | undefined;
    req.once("response", (h) => (status = h[":status"]));
    req.resume();
    req.end(body);
    await new Promise((resolve) => req.once("close", resolve));
    return status;
  } finally {
    // node:http2 (v20) can loop when a session is destroyed in the tick of a stream's close.
    await new Promise((resolve) => setImmediate(resolve));
    session.destroy();
  }
}
