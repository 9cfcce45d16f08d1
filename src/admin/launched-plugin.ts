import { create } from "@bufbuild/protobuf";
import { LaunchedPluginSchema, LaunchState, type LaunchedPlugin as LaunchedPluginMessage } from "../../gen/plugboard/v1/admin_pb.js";
import type { LaunchedPlugin } from "../ops/launched.js";

/** The launcher's state names, as the wire's enum. */
const STATES: Record<string, LaunchState> = {
  starting: LaunchState.STARTING,
  ready: LaunchState.RUNNING,
  restarting: LaunchState.BACKING_OFF,
  stopped: LaunchState.STOPPED,
  failed: LaunchState.FAILED,
  "gave-up": LaunchState.GAVE_UP,
};

export function toLaunchedPluginMessage(p: LaunchedPlugin): LaunchedPluginMessage {
  return create(LaunchedPluginSchema, {
    name: p.name,
    pid: p.pid !== undefined && p.pid > 0 ? p.pid : 0,
    restarts: p.restarts,
    state: STATES[p.state] ?? LaunchState.UNSPECIFIED,
    runtimeId: p.runtimeId ?? "",
  });
}
