import type { Command } from "commander";
import { loadHostConfig } from "./host-config.js";
import { pidFileOf, readPid } from "./pid-file.js";

/**
 * `plugboard reload --config host.yaml`: validates the file here first (problems are printed and nothing is
 * sent), then sends SIGHUP to the host running that file (its pid is in `host.yaml.pid`). The host validates
 * again, swaps what changed, and logs and audits the outcome (`config.reload`).
 */
export function registerReloadCommand(program: Command): Command {
  return program
    .command("reload")
    .description("reload a running plugboard host's config (SIGHUP to the pid in <config>.pid)")
    .requiredOption("-c, --config <file>", "the config file the host was started with")
    .option("--pid-file <file>", "where the host wrote its pid (default <config>.pid)")
    .action((opts: { config: string; pidFile?: string }) => {
      loadHostConfig(opts.config);
      const pidFile = opts.pidFile ?? pidFileOf(opts.config);
      const pid = readPid(pidFile);
      if (pid === undefined) throw new Error(`no running host found: ${pidFile} is missing or empty (is plugboard host running with this config?)`);
      try {
        process.kill(pid, "SIGHUP");
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new Error(code === "ESRCH" ? `no process ${pid} (stale ${pidFile})` : `cannot signal pid ${pid}: ${(error as Error).message}`);
      }
      console.log(`sent SIGHUP to plugboard host pid ${pid}; it logs and audits the outcome (event config.reload)`);
    });
}
