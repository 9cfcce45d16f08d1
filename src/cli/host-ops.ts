import type { PluginHost } from "../host/create.js";
import type { Logger } from "../log/logger.js";
import { defaultAdminCredentialsPath, removeAdminCredentials, writeAdminCredentials, type AdminCredential } from "../ops/index.js";
import type { OpsConfig } from "./ops-config.js";

export interface HostOps {
  opsUrl: string | undefined;
  credentialsFile: string | undefined;
  /** Removes the credentials file (if still ours). */
  release(): void;
}

/**
 * What `plugboard host` adds for operators once its main port listens: the ops listener (when
 * configured) and the admin credentials file `plugboard status` reads (unless `adminCredentials: false`).
 */
export async function startHostOps(
  host: PluginHost,
  config: OpsConfig & { tls?: "auto" | { ca?: string } },
  url: string,
  credential: AdminCredential,
  logger: Logger,
): Promise<HostOps> {
  const opsServer = config.ops ? await host.listenOps({ port: config.ops.port, hostname: config.ops.hostname }) : undefined;
  const file = config.adminCredentials === false ? undefined : (config.adminCredentials ?? defaultAdminCredentialsPath());
  if (file) {
    writeAdminCredentials(file, {
      url,
      ...(opsServer ? { opsUrl: opsServer.url } : {}),
      token: credential.token,
      pid: process.pid,
      ...(typeof config.tls === "object" && config.tls.ca ? { ca: config.tls.ca } : {}),
    });
    logger.info({ file }, "admin credential for plugboard status written (mode 0600)");
  }
  return {
    opsUrl: opsServer?.url,
    credentialsFile: file,
    release: () => file && removeAdminCredentials(file, credential.token),
  };
}
