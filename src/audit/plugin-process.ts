import type { AuditSink } from "./audit.js";

export type PluginProcessAction = "start" | "stop" | "restart" | "memory-ceiling";

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

/**
 * For the launcher, with a host at hand: audits the event and, for restarts, counts
 * `plugboard_plugin_restarts_total{plugin}`. `recordPluginProcess(host, { action: "restart", ... })`.
 */
export function recordPluginProcess(
  host: { audit: AuditSink; metrics: { pluginRestarts: { inc(labels: { plugin: string }): void } } },
  e: PluginProcessEvent,
): void {
  auditPluginProcess(host.audit, e);
  if (e.action === "restart") host.metrics.pluginRestarts.inc({ plugin: e.pluginName });
}
