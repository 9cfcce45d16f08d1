#!/usr/bin/env node
import { Command } from "commander";
import { registerCertsCommand } from "./certs.js";
import { ConfigError } from "./config-fields.js";
import { registerHostCommand } from "./host-command.js";
import { registerInitCommand } from "./init/init-command.js";
import { readOwnPackage } from "./own-package.js";
import { registerStatusCommand } from "./status-command.js";
import { registerTokenCommand } from "./token-command.js";
import { registerEnrolCommand } from "./enrol-command.js";

const program = new Command("plugboard")
  .description("Plugboard plugin host")
  .version(readOwnPackage().version, "-V, --version", "print the plugboard version")
  .showHelpAfterError();
registerHostCommand(program);
registerCertsCommand(program);
registerInitCommand(program);
registerStatusCommand(program);
registerTokenCommand(program);
registerEnrolCommand(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  const message = error instanceof ConfigError ? error.message : `plugboard: ${(error as Error).message ?? String(error)}`;
  console.error(message);
  process.exit(error instanceof ConfigError ? 2 : 1);
});
