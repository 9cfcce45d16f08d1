import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { LogService } from "../../gen/hostlog/v1/hostlog_pb.js";
import type { Capability } from "../../src/host/context.js";
import { identityKey } from "../../src/identity/identity.js";
import type { Logger } from "../../src/log/logger.js";

const LEVELS = new Set(["debug", "info", "warn", "error"]);
const MAX_MESSAGE_CHARS = 4096;

/**
 * Host capability: plugins holding a broker grant write lines into the host's log, tagged with
 * the plugin the host authenticated (never a name the plugin claims).
 * `createPluginHost({ capabilities: [createLogCapability(logger)] })`
 */
export function createLogCapability(logger: Logger, onWrite?: (line: { plugin: string; level: string; message: string }) => void): Capability<typeof LogService> {
  const impl: ServiceImpl<typeof LogService> = {
    async write(req, ctx) {
      const level = req.level === "" ? "info" : req.level;
      if (!LEVELS.has(level)) throw new ConnectError(`level must be one of ${[...LEVELS].join(", ")}`, Code.InvalidArgument);
      if (req.message.length > MAX_MESSAGE_CHARS) throw new ConnectError(`message longer than ${MAX_MESSAGE_CHARS} characters`, Code.InvalidArgument);
      const caller = ctx.values.get(identityKey);
      const plugin = caller?.pluginName ?? caller?.subject ?? "unknown";
      logger[level as "info"]({ plugin, runtimeId: caller?.runtimeId }, req.message);
      onWrite?.({ plugin, level, message: req.message });
      return {};
    },
  };
  return { service: LogService, impl };
}
