import type { Store } from "../src/store/types.js";

/**
 * Brings the store to `n` providers of `serviceType` (one runtime with one registration each), written
 * straight into the store: the Discover curve measures reading n providers, and 10 000 real handshakes
 * would cost the run more than the measurement. Returns the number of providers now present.
 */
export async function populate(store: Store, n: number, serviceType: string): Promise<number> {
  const now = Date.now();
  const hour = 60 * 60 * 1000;
  let have = await store.countRegistrations({ serviceType });
  for (; have < n; have++) {
    const runtimeId = `rt_bench_${have}`;
    const baseUrl = `http://10.0.${Math.floor(have / 250) % 250}.${(have % 250) + 1}:8080`;
    await store.putRuntime({
      runtimeId,
      pluginName: `bench-provider-${have}`,
      pluginVersion: "1.0.0",
      provides: [{ type: serviceType, version: "1.0.0" }],
      requires: [],
      capabilities: [],
      secrets: [],
      baseUrl,
      appProtocolVersion: "1.0.0",
      callerSigningKey: Buffer.alloc(32, have % 256).toString("base64"),
      nameProof: "enrolment",
      health: 1,
      healthMessage: "",
      healthReportedAt: now,
      startedAt: now,
      expiresAt: now + hour,
    });
    await store.renewLease(runtimeId, now + hour);
    await store.putRegistration({
      registrationId: `rg_bench_${have}`,
      serviceType,
      version: "1.0.0",
      runtimeId,
      pluginName: `bench-provider-${have}`,
      endpoint: baseUrl,
      metadata: {},
      weight: 0,
      health: 1,
    });
  }
  return have;
}
