// `npm run build` starts from an empty dist/, so a removed source file never ships from a stale build.
import { rmSync } from "node:fs";

rmSync(new URL("../dist", import.meta.url), { recursive: true, force: true });
