/** plugboard's own package.json (for --version and the versions `init` pins). */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface OwnPackage {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}

/** Walks up from this file (src/cli in a checkout, dist/src/cli in the package) to package.json. */
export function readOwnPackage(): OwnPackage {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Partial<OwnPackage> & { name?: string };
      if (pkg.name === "plugboard")
        return { version: pkg.version ?? "0.0.0", dependencies: pkg.dependencies ?? {}, devDependencies: pkg.devDependencies ?? {} };
    } catch {
      // no package.json here: keep walking up
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error("plugboard: cannot find plugboard's package.json");
    dir = parent;
  }
}
