export { resolveSandbox, type ResolvedSandbox, type SandboxSpec } from "./spec.js";
export { sandboxCommand, permissionFlag, type LaunchCommand } from "./command.js";
export { groupResidentBytes, watchMemoryCeiling, type MemoryCeilingWatch } from "./memory-ceiling.js";
export { findExecutable } from "./executables.js";
