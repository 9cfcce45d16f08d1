import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { HealthState } from "../../../gen/plugboard/v1/common_pb.js";
import { WatchEventType, WatchResponseSchema, type WatchResponse } from "../../../gen/plugboard/v1/registry_pb.js";
import { watchDependencies } from "../../../src/sdk/dependency-health.js";

const snapshotPart = (type: string, id: string, complete: boolean): WatchResponse =>
  create(WatchResponseSchema, {
    type: WatchEventType.SNAPSHOT,
    registrations: [{ registrationId: id, serviceType: type, health: HealthState.HEALTHY }],
    snapshotComplete: complete,
  });

describe("watchDependencies", () => {
  it("judges a snapshot split over several messages once it is complete, keeping every part", async () => {
    const reports: Array<[string, string]> = [];
    let reported!: () => void;
    const done = new Promise<void>((resolve) => (reported = resolve));
    const deps = watchDependencies({
      required: ["kv.v1.KV", "log.v1.Log"],
      async *watch(_types, signal) {
        yield snapshotPart("kv.v1.KV", "rg_1", false);
        yield snapshotPart("log.v1.Log", "rg_2", true);
        await new Promise((resolve) => signal.addEventListener("abort", resolve));
      },
      async report(state, message) {
        reports.push([state, message]);
        reported();
      },
    });
    await done;
    deps.stop();
    expect(reports).toEqual([["healthy", ""]]);
  });
});
