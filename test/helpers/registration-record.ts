import type { RegistrationRecord } from "../../src/store/types.js";

/** A stored registration of `kv.v1.Kv` for unit tests of the registry's pure parts; `init` overrides any field. */
export const registrationRecord = (id: string, init: Partial<RegistrationRecord> = {}): RegistrationRecord => ({
  registrationId: id,
  serviceType: "kv.v1.Kv",
  version: "1.0.0",
  runtimeId: "rt_1",
  pluginName: "kv",
  endpoint: "http://127.0.0.1:1",
  metadata: {},
  weight: 0,
  health: 1,
  ...init,
});
