import { existsSync, readFileSync } from "node:fs";
import { expect, it } from "vitest";

// The build ships the dashboard next to the compiled ops concern, which reads it relative to itself.
it("the built package holds the dashboard's page, script and stylesheet", () => {
  for (const file of ["index.html", "dashboard.js", "dashboard.css"]) expect(existsSync(`dist/src/ops/dashboard/${file}`)).toBe(true);
  const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { files: string[]; scripts: Record<string, string> };
  expect(pkg.files).toContain("dist/src");
  expect(pkg.scripts["build"]).toContain("copy-assets");
});

// No data reaches the page as markup: the script builds the DOM with textContent only.
it("the dashboard script never writes HTML", () => {
  const script = readFileSync("src/ops/dashboard/dashboard.js", "utf8");
  expect(script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
});
