// `npm run build` ships the dashboard's plain files next to the compiled ops concern (dist/src/ops/dashboard).
import { cpSync } from "node:fs";

cpSync(new URL("../src/ops/dashboard", import.meta.url), new URL("../dist/src/ops/dashboard", import.meta.url), { recursive: true });
