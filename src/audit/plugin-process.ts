import type { AuditSink } from "./audit.js";

export type PluginProcessAction = "start" | "stop" | "restart";

export interface PluginProcessEvent {
  action: PluginProcessAction;
  pluginName: string;
  /** OS process id, when there is one. */
  pid?: number;
  outcome?: "success" | "failure";
  /** Why: "crashed (exit 1)", "health check failed", "host shutdown"... */
  reason?: string;
}

/** For the launcher (the host itself acts, so no actor): one audit record per plugin process start, stop or restart (`plugin.start` ...). */
export function auditPluginProcess(audit: AuditSink, e: PluginProcessEvent): void {
  audit({
    event: `plugin.${e.action}`,
    outcome: e.outcome ?? "success",
    target: e.pid === undefined ? e.pluginName : `${e.pluginName} pid=${e.pid}`,
    ...(e.reason === undefined ? {} : { reason: e.reason }),
  });
}
