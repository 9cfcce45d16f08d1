import { expect, it } from "vitest";
import { run } from "../../helpers/processes.js";

it("npm start: plugins as child processes handshake, call through the router, hit the rate limit once and stop cleanly", async () => {
  const result = await run("examples/demo/main.ts", []);
  expect(result.code, result.stderr).toBe(0);
  const out = result.stdout;
  for (const expected of [
    /\[kv-provider\] plugin ready/,
    /\[host\] a stranger claiming kv-provider is refused: \[unauthenticated\]/,
    /\[consumer\] get greeting -> hello \(found=true, provider saw caller runtime:rt_/,
    /\[consumer\] list item\/ -> item\/1=value 1, item\/2=value 2, item\/3=value 3/,
    /\[consumer\] exchange -> echo: ping \| echo: pong/,
    /\[consumer\] hello from the consumer, through a broker grant/,
    /\[consumer\] call \d+ refused by the host's rate limit/,
    /\[consumer\] after waiting: get greeting -> found=true/,
    /\[consumer\] stopped cleanly/,
    /\[host\] host stopped; bye/,
  ])
    expect(out).toMatch(expected);
  // Nothing secret reaches the demo's log.
  expect(out).not.toMatch(/pbrt_|pbgt_|pbls_|pbet_/);
}, 60_000);
