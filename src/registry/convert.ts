import { create } from "@bufbuild/protobuf";
import { RegistrationSchema, type Registration } from "../../gen/plugboard/v1/common_pb.js";
import type { RegistrationRecord } from "../store/types.js";

export function toRegistration(record: RegistrationRecord): Registration {
  return create(RegistrationSchema, {
    registrationId: record.registrationId,
    serviceType: record.serviceType,
    version: record.version,
    runtimeId: record.runtimeId,
    pluginName: record.pluginName,
    endpoint: record.endpoint,
    metadata: record.metadata,
    weight: record.weight,
    health: record.health,
    protocols: record.protocols ?? [],
  });
}
