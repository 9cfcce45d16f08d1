// Runs in every test file: whatever process group a test spawned through processes.ts and did not
// stop (a failed assertion, a timeout) is killed, and its temp dirs removed, when the file is done.
import { afterAll } from "vitest";
import { killAllGroups } from "./processes.js";
import { removeTempDirs } from "./temp-dirs.js";

afterAll(async () => {
  await killAllGroups();
  removeTempDirs();
});
