export { createOps, type Ops, type OpsDeps, type OpsOptions } from "./ops.js";
export { createAdminCredential, withAdminCredential, ADMIN_TOKEN_PREFIX, ADMIN_CREDENTIAL_SUBJECT, type AdminCredential } from "./admin-credential.js";
export {
  defaultAdminCredentialsPath,
  readAdminCredentials,
  removeAdminCredentials,
  writeAdminCredentials,
  type AdminCredentialsFile,
} from "./credentials-file.js";
export type { LaunchedPlugin, LaunchedPlugins } from "./launched.js";
export type { FleetState, RuntimeView } from "./fleet-state.js";
export type { OpsServer, OpsListenOptions } from "./listen.js";
export type { Readiness } from "./readiness.js";
export { isLoopbackHost } from "./access.js";
/** The probe and scrape paths (also answered on the main port unless opsOnMainPort is false). */
export { PROBE_PATHS as OPS_PATHS } from "./http-handler.js";
