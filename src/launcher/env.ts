import type { ResolvedSpec } from "./spec.js";

/** Variables the launcher gives every plugin process. */
export const LAUNCH_ENV = {
  hostUrl: "PLUGBOARD_HOST_URL",
  launchSecret: "PLUGBOARD_LAUNCH_SECRET",
  pluginPort: "PLUGBOARD_PLUGIN_PORT",
  parentPid: "PLUGBOARD_PARENT_PID",
  /** The host's magic cookie (as go-plugin passes it): a plugin handshakes with it; not a secret. */
  magicCookieKey: "PLUGBOARD_MAGIC_COOKIE_KEY",
  magicCookieValue: "PLUGBOARD_MAGIC_COOKIE_VALUE",
  /**
   * AutoMTLS: the plugin's certificate, key and the CA, PEM. The environment is the channel the
   * launch secret already uses: never on disk, readable only by the same user (/proc/<pid>/environ),
   * and the SDK deletes them from process.env on start so the plugin's own children do not inherit
   * them. The key is short-lived: the plugin replaces it at half-life with one it made itself.
   */
  tlsCert: "PLUGBOARD_TLS_CERT",
  tlsKey: "PLUGBOARD_TLS_KEY",
  tlsCa: "PLUGBOARD_TLS_CA",
} as const;

/**
 * The plugin's whole environment: its spec's variables, the allow-listed host variables and the
 * PLUGBOARD_* ones. Never the host's environment as a whole, which holds the host's own secrets.
 */
export function pluginEnv(
  spec: ResolvedSpec,
  launch: {
    hostUrl: string;
    launchSecret: string;
    port: number;
    parentPid: number;
    magicCookie?: { key: string; value: string };
    tls?: { certPem: string; keyPem: string; caPem: string } | undefined;
  },
  hostEnv: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of spec.inheritEnv) {
    const value = hostEnv[key];
    if (value !== undefined) env[key] = value;
  }
  Object.assign(env, spec.env);
  env[LAUNCH_ENV.hostUrl] = launch.hostUrl;
  env[LAUNCH_ENV.launchSecret] = launch.launchSecret;
  env[LAUNCH_ENV.pluginPort] = String(launch.port);
  env[LAUNCH_ENV.parentPid] = String(launch.parentPid);
  if (launch.magicCookie) {
    env[LAUNCH_ENV.magicCookieKey] = launch.magicCookie.key;
    env[LAUNCH_ENV.magicCookieValue] = launch.magicCookie.value;
  }
  if (launch.tls) {
    env[LAUNCH_ENV.tlsCert] = launch.tls.certPem;
    env[LAUNCH_ENV.tlsKey] = launch.tls.keyPem;
    env[LAUNCH_ENV.tlsCa] = launch.tls.caPem;
  }
  return env;
}
