import { Code, ConnectError } from "@connectrpc/connect";
import { createPlugin, type Plugin } from "./plugin.js";
import type { PluginOptions } from "./options.js";

/** Exit codes of a plugin run with `runPlugin`. */
export const EXIT_CODES = {
  /** Could not reach the host (or it answered Unavailable): worth starting again later. */
  unreachable: 1,
  /** Refused or misconfigured (cookie, launch secret, secrets, options): starting again will not help. */
  refused: 2,
} as const;

export interface StartFailure {
  /** One line: what failed and how to fix it; never a token or secret. */
  line: string;
  exitCode: number;
}

const oneLine = (text: string) => text.replace(/\s+/g, " ").trim();

/** Explains why a plugin could not start, in one line, with the usual fix. */
export function describeStartFailure(name: string, hostUrl: string | undefined, error: unknown): StartFailure {
  if (!(error instanceof ConnectError)) {
    // Option mistakes from createPlugin: their message already names the option.
    const message = error instanceof Error ? error.message : String(error);
    const fix = message.includes("PLUGBOARD_HOST_URL")
      ? " (plugins are normally started by their host, which sets it; to run one by hand, set PLUGBOARD_HOST_URL=http://host:port)"
      : "";
    return { line: `plugin ${name} failed to start: ${oneLine(message)}${fix}`, exitCode: EXIT_CODES.refused };
  }
  const what = oneLine(error.rawMessage);
  const where = hostUrl ? ` at ${hostUrl}` : "";
  const fail = (fix: string, exitCode: number = EXIT_CODES.refused): StartFailure => ({
    line: `plugin ${name} failed to start: ${what}${fix ? ` — ${fix}` : ""}`,
    exitCode,
  });
  if (error.code === Code.Unavailable && /secret provider/.test(what))
    return fail("the host could not check its secrets just now: start again once its secret provider is back", EXIT_CODES.unreachable);
  if (/required secret/.test(what)) return fail("", EXIT_CODES.refused); // the host's message names the secret, where it looked and the fix
  if (error.code === Code.Unavailable || error.code === Code.DeadlineExceeded || error.code === Code.Canceled)
    return fail(`is the host running${where}? Check PLUGBOARD_HOST_URL`, EXIT_CODES.unreachable);
  if (/magic cookie/.test(what))
    return fail("the plugin's magicCookie must be the one its host was configured with (a plugin is started by its host)");
  if (/launch secret/.test(what))
    return fail("this host only admits plugins it launched: add the plugin to the host's `plugins:` and let the host start it");
  if (error.code === Code.Unimplemented || error.code === Code.NotFound)
    return fail(`${hostUrl ?? "PLUGBOARD_HOST_URL"} does not look like a Plugboard host`);
  if (error.code === Code.Unauthenticated)
    return fail("the host did not accept this plugin's credentials (mTLS certificate, launch secret or token)");
  return fail("");
}

/**
 * Runs a plugin as a program: starts it and, when it cannot start, prints one line (what failed and
 * the fix) to stderr and exits non-zero (EXIT_CODES) instead of an unhandled rejection with a stack.
 * Resolves with the started plugin; SIGTERM/SIGINT stop it as usual.
 * To handle failures yourself (embedding), call `createPlugin(...).start()`: it rejects with a ConnectError.
 */
export async function runPlugin(plugin: Plugin | PluginOptions): Promise<Plugin> {
  const name = plugin.name;
  const hostUrl = "start" in plugin ? plugin.hostUrl : (plugin.hostUrl ?? process.env["PLUGBOARD_HOST_URL"]);
  try {
    const started = "start" in plugin ? plugin : createPlugin(plugin);
    await started.start();
    return started;
  } catch (error) {
    const failure = describeStartFailure(name, hostUrl, error);
    process.stderr.write(`${failure.line}\n`);
    // exitCode + exit: stderr is flushed before the process ends even when it is a pipe.
    process.exitCode = failure.exitCode;
    return new Promise<never>(() => process.stderr.write("", () => process.exit(failure.exitCode)));
  }
}
