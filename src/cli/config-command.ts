import type { Command } from "commander";
import { hostConfigJsonSchema, hostConfigMarkdown } from "./config-docs.js";
import { loadHostConfig } from "./host-config.js";

/** `plugboard config schema|docs|check`: the host config's JSON Schema, its reference page, and a dry-run validation. */
export function registerConfigCommand(program: Command): Command {
  const config = program.command("config").description("the plugboard host config file: schema, docs, validation");
  config
    .command("schema")
    .description("print the JSON Schema of plugboard host config files (for editors)")
    .action(() => console.log(JSON.stringify(hostConfigJsonSchema(), null, 2)));
  config
    .command("docs")
    .description("print the config reference (docs/config.md)")
    .action(() => {
      process.stdout.write(hostConfigMarkdown());
    });
  config
    .command("check")
    .description("validate a config file without starting anything")
    .requiredOption("-c, --config <file>", "host configuration (YAML or JSON)")
    .action((opts: { config: string }) => {
      loadHostConfig(opts.config);
      console.log(`${opts.config}: ok`);
    });
  return config;
}
