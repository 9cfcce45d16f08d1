import { ConfigError, onlyKeys, optNum, optObj, optStr, type Obj } from "./config-fields.js";

/** `ops:` and `adminCredentials:` of the host config file. */
export interface OpsConfig {
  /** The HTTP/1.1 ops listener (metrics, probes, dashboard); absent: none. */
  ops?: { port: number; hostname: string; recentAuditEvents?: number; maxEventStreams?: number };
  /** Where the admin credential for `plugboard status` is written; false: not written. Undefined: the default place. */
  adminCredentials?: string | false;
}

export const OPS_CONFIG_KEYS = ["ops", "adminCredentials"] as const;

export function parseOpsConfig(root: Obj, path: (p: string) => string): OpsConfig {
  const result: OpsConfig = {};
  const ops = optObj(root, "ops", "");
  if (ops) {
    onlyKeys(ops, ["port", "hostname", "recentAuditEvents", "maxEventStreams"], "ops");
    const recentAuditEvents = optNum(ops, "recentAuditEvents", "ops", { min: 1 });
    const maxEventStreams = optNum(ops, "maxEventStreams", "ops", { min: 1 });
    result.ops = {
      port: optNum(ops, "port", "ops") ?? 0,
      hostname: optStr(ops, "hostname", "ops") ?? "127.0.0.1",
      ...(recentAuditEvents === undefined ? {} : { recentAuditEvents }),
      ...(maxEventStreams === undefined ? {} : { maxEventStreams }),
    };
    if (result.ops.port > 65_535) throw new ConfigError("ops.port", "must be a port number (0-65535)");
  }
  const credentials = root["adminCredentials"];
  if (credentials === false) result.adminCredentials = false;
  else if (typeof credentials === "string" && credentials !== "") result.adminCredentials = path(credentials);
  else if (credentials !== undefined) throw new ConfigError("adminCredentials", "must be a file path or false");
  return result;
}
