export { createLauncher, type Launcher, type LauncherOptions } from "./launcher.js";
export type { PluginSpec, RestartPolicy, RestartPolicyName } from "./spec.js";
export type { FailureEvent, PluginState, PluginStatus, RestartEvent } from "./supervisor.js";
export { dependencyLayers, orderByDependencies, type DependencyDecl } from "./order.js";
export { startParentWatchdog, type ParentWatchdogOptions } from "./watchdog.js";
export { LAUNCH_ENV } from "./env.js";
export type { OutputCaptureOptions } from "./output.js";
export { served, startInProcess, type InProcessPlugin, type InProcessPluginOptions, type InProcessProvided } from "./in-process.js";
export { createInFlightCounter } from "./in-flight.js";
