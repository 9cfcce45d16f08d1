// Prints vitest's JSON report as one plain closing line ("tests: N passed, N failed, N skipped")
// for CI readers that do not parse vitest's own summary.
import { readFileSync } from "node:fs";

const file = process.argv[2] ?? ".vitest-results.json";
const report = JSON.parse(readFileSync(file, "utf8"));
const skipped = report.numPendingTests + report.numTodoTests;
console.log(`tests: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped`);
