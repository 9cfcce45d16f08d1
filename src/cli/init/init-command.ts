/** `plugboard init <name>`: scaffolds a plugin project in ./<name>. */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { readOwnPackage } from "../own-package.js";
import { projectFiles } from "./templates.js";

/** A plugin name the host accepts that is also a valid npm package name. */
const NAME = /^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$/;

export interface InitOptions {
  name: string;
  /** Parent folder; the project goes to <cwd>/<name>. Default process.cwd(). */
  cwd?: string;
  /** The plugboard dependency spec. Default ^<this version>. */
  plugboardSpec?: string;
}

/** Writes the project; returns its folder and the files written. Refuses a non-empty folder. */
export async function initProject(options: InitOptions): Promise<{ dir: string; files: string[] }> {
  if (!NAME.test(options.name))
    throw new Error(`init: "${options.name}" is not a usable plugin name: use 1-64 lowercase letters, digits, '.', '_' or '-', starting and ending with a letter or digit`);
  const dir = resolve(options.cwd ?? process.cwd(), options.name);
  const existing = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return [];
    throw new Error(`init: ${dir} cannot be used: ${e.code ?? e.message}`);
  });
  if (existing.length > 0) throw new Error(`init: ${dir} already exists and is not empty; choose another name or remove it`);
  const own = readOwnPackage();
  const files = projectFiles({
    name: options.name,
    plugboardSpec: options.plugboardSpec ?? `^${own.version}`,
    versions: { ...own.devDependencies, ...own.dependencies },
    cookieValue: randomBytes(16).toString("hex"),
  });
  for (const [path, content] of Object.entries(files)) {
    const target = join(dir, path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content, { flag: "wx" }); // never overwrite, even if a file appeared meanwhile
  }
  return { dir, files: Object.keys(files) };
}

export function registerInitCommand(program: Command): Command {
  return program
    .command("init")
    .description("scaffold a plugin project (proto, buf, createPlugin, a test, a host config) in ./<name>")
    .argument("<name>", "plugin name, also the folder and npm package name")
    .option("--plugboard <spec>", "plugboard dependency spec (e.g. file:../plugboard or a tarball path)")
    .action(async (name: string, opts: { plugboard?: string }) => {
      const { dir } = await initProject({ name, ...(opts.plugboard ? { plugboardSpec: opts.plugboard } : {}) });
      process.stdout.write(`created ${dir}\n\n  cd ${name}\n  npm install\n  npm start            # host + plugin\n  npm run call -- Ada  # in another terminal\n`);
    });
}
