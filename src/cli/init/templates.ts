/**
 * The files `plugboard init <name>` writes: a plugin project with a sample proto service, buf
 * code generation, the plugin, a consumer to call it, a test, and a host config that launches it.
 */

export interface TemplateInput {
  /** Plugin and npm package name (validated by the caller). */
  name: string;
  /** The `plugboard` dependency: a semver range, or a file:/tarball spec for local development. */
  plugboardSpec: string;
  /** Versions of the packages plugboard itself is built with, so the project gets matching copies. */
  versions: Record<string, string>;
  /** Random value of the magic cookie shared by the host config and the plugin. */
  cookieValue: string;
}

/** Proto package for a plugin name: `demo-plugin` → `demo_plugin.v1`. */
export function protoPackage(name: string): string {
  const base = name.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
  return /^[a-z]/.test(base) ? base : `p${base}`;
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

export function projectFiles(input: TemplateInput): Record<string, string> {
  const { name, versions } = input;
  const pkg = protoPackage(name);
  const service = `${pkg}.v1.GreeterService`;
  const gen = `../gen/${pkg}/v1/greeter_pb.js`;
  const cookieKey = `PLUGBOARD_${pkg.toUpperCase()}`;
  const v = (dep: string) => versions[dep] ?? "*";

  return {
    "package.json": json({
      name,
      version: "0.1.0",
      private: true,
      type: "module",
      scripts: {
        generate: "buf generate",
        typecheck: "buf generate && tsc --noEmit",
        start: "buf generate && plugboard host --config plugboard.yaml",
        call: "tsx src/call.ts",
        test: "buf generate && node --import tsx --test test/*.test.ts",
      },
      dependencies: {
        "@bufbuild/protobuf": v("@bufbuild/protobuf"),
        "@connectrpc/connect": v("@connectrpc/connect"),
        "@connectrpc/connect-node": v("@connectrpc/connect-node"),
        plugboard: input.plugboardSpec,
      },
      devDependencies: {
        "@bufbuild/buf": v("@bufbuild/buf"),
        "@bufbuild/protoc-gen-es": v("@bufbuild/protoc-gen-es"),
        "@types/node": v("@types/node"),
        tsx: v("tsx"),
        typescript: v("typescript"),
      },
    }),

    "tsconfig.json": json({
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        noUncheckedIndexedAccess: true,
        skipLibCheck: true,
        noEmit: true,
        types: ["node"],
      },
      include: ["src", "test", "gen"],
    }),

    "buf.yaml": `version: v2
modules:
  - path: proto
lint:
  use:
    - STANDARD
breaking:
  use:
    - FILE
`,

    "buf.gen.yaml": `# npm run generate: TypeScript for proto/ into gen/ with protoc-gen-es (from node_modules/.bin).
version: v2
inputs:
  - directory: proto
plugins:
  - local: protoc-gen-es
    out: gen
    opt:
      - target=ts
      - import_extension=js
clean: true
`,

    [`proto/${pkg}/v1/greeter.proto`]: `syntax = "proto3";

package ${pkg}.v1;

// GreeterService is the sample service this plugin provides. Change it, then npm run generate.
service GreeterService {
  rpc Greet(GreetRequest) returns (GreetResponse);
}

message GreetRequest {
  string name = 1;
}

message GreetResponse {
  string greeting = 1;
  // Who called, as the host proved it ("runtime:<id>" for a plugin).
  string caller = 2;
}
`,

    "src/cookie.ts": `/**
 * Tells the plugin it was started by its host (not a security measure: identity comes from the
 * launch secret). Must match magicCookie in plugboard.yaml.
 */
export const MAGIC_COOKIE = { key: ${JSON.stringify(cookieKey)}, value: ${JSON.stringify(input.cookieValue)} };
`,

    "src/greeter.ts": `import type { ServiceImpl } from "@connectrpc/connect";
import { callerKey } from "plugboard/sdk";
import { GreeterService } from "${gen}";

/** The implementation of the sample service. */
export const greeter: Partial<ServiceImpl<typeof GreeterService>> = {
  greet(req, context) {
    const caller = context.values.get(callerKey);
    return { greeting: \`Hello, \${req.name || "world"}!\`, caller: caller?.subject ?? "" };
  },
};
`,

    "src/plugin.ts": `import { createPlugin, provide, type Plugin } from "plugboard/sdk";
import { GreeterService } from "${gen}";
import { MAGIC_COOKIE } from "./cookie.js";
import { greeter } from "./greeter.js";

/** The plugin; the host URL comes from PLUGBOARD_HOST_URL when the host launches it. */
export function createGreeterPlugin(options: { hostUrl?: string; enrolmentToken?: string } = {}): Plugin {
  return createPlugin({
    name: ${JSON.stringify(name)},
    version: "0.1.0",
    magicCookie: MAGIC_COOKIE,
    provides: [provide(GreeterService, greeter)],
    ...options,
  });
}
`,

    "src/main.ts": `/** Entry point the host launches (see plugboard.yaml). */
import { runPlugin } from "plugboard/sdk";
import { createGreeterPlugin } from "./plugin.js";

// If it cannot start: one line saying what failed and how to fix it, and a non-zero exit.
const plugin = await runPlugin(createGreeterPlugin());
console.log(\`${name} ready as \${plugin.runtimeId}\`);
`,

    "src/call.ts": `/**
 * Calls the plugin through a running host: npm run call -- Ada
 * (PLUGBOARD_HOST_URL defaults to the host in plugboard.yaml).
 */
import { requireService, runPlugin } from "plugboard/sdk";
import { GreeterService } from "${gen}";
import { MAGIC_COOKIE } from "./cookie.js";

const caller = await runPlugin({
  name: "${name}-caller",
  version: "0.1.0",
  hostUrl: process.env["PLUGBOARD_HOST_URL"] ?? "http://127.0.0.1:7777",
  magicCookie: MAGIC_COOKIE,
  requires: [requireService(GreeterService)],
  shutdownSignals: false,
});
try {
  const res = await caller.client(GreeterService).greet({ name: process.argv[2] ?? "" });
  console.log(res.greeting);
} finally {
  await caller.stop();
}
`,

    "test/greeter.test.ts": `/** A real host in this process, the plugin, and a caller reaching it through the host. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createPluginHost, type PluginHost } from "plugboard";
import { createPlugin, requireService, type Plugin } from "plugboard/sdk";
import { GreeterService } from "${gen}";
import { MAGIC_COOKIE } from "../src/cookie.js";
import { createGreeterPlugin } from "../src/plugin.js";

let host: PluginHost;
let plugin: Plugin;
let caller: Plugin;

before(async () => {
  host = createPluginHost({ magicCookie: MAGIC_COOKIE, auditLog: { destination: () => undefined } });
  const { url } = await host.listen({ port: 0 });
  // Plugins prove their names: here with enrolment tokens the host mints for them.
  const enrol = async (name: string) => (await host.issueEnrolmentToken(name)).token;
  plugin = createGreeterPlugin({ hostUrl: url, enrolmentToken: await enrol("${name}") });
  await plugin.start();
  caller = createPlugin({ name: "caller", version: "0.1.0", hostUrl: url, magicCookie: MAGIC_COOKIE, enrolmentToken: await enrol("caller"), requires: [requireService(GreeterService)] });
  await caller.start();
});

after(async () => {
  await caller?.stop();
  await plugin?.stop();
  await host?.close();
});

test("greets through the host, which proves who called", async () => {
  const res = await caller.client(GreeterService).greet({ name: "Ada" });
  assert.equal(res.greeting, "Hello, Ada!");
  assert.equal(res.caller, \`runtime:\${caller.runtimeId}\`);
});
`,

    "plugboard.yaml": `# npm start: a plugboard host on 127.0.0.1:7777 that launches this plugin.
listen:
  hostname: 127.0.0.1
  port: 7777
magicCookie:
  key: ${cookieKey}
  value: ${input.cookieValue}
requireLaunchSecret: false
# Development only: lets npm run call (a plugin started by hand, proving no name) connect. Such runtimes are
# marked unproven and get no rights bound to their name; in production enrol them (plugboard enrol <name>).
allowUnprovenNames: true
plugins:
  - name: ${name}
    command: node
    args: ["--import", "tsx", "src/main.ts"]
    inheritEnv: [PATH]
    provides: [${service}]
`,

    ".gitignore": "node_modules/\n",

    "README.md": `# ${name}

A [Plugboard](https://github.com/) plugin providing \`${service}\`.

\`\`\`sh
npm install
npm start            # buf generate, then plugboard host launches this plugin (plugboard.yaml)
npm run call -- Ada  # in another terminal: calls Greet through the host → "Hello, Ada!"
npm test             # host, plugin and a caller in one process
\`\`\`

- \`proto/${pkg}/v1/greeter.proto\`: the service. Edit it, then \`npm run generate\` (buf + protoc-gen-es → \`gen/\`).
- \`src/greeter.ts\`: its implementation; \`src/plugin.ts\`: \`createPlugin\` with what the plugin provides.
- \`plugboard.yaml\`: the host. Set \`tls: auto\` for AutoMTLS between the host and the plugins it launches
  (\`npm run call\` then cannot connect: it is not launched by the host and has no certificate).
`,
  };
}
