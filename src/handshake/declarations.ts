import type { HandshakeRequest } from "../../gen/plugboard/v1/handshake_pb.js";
import type { Limits } from "../host/context.js";
import type { SecretNeed, ServiceDecl, ServiceNeed } from "../store/types.js";
import {
  invalid,
  validateCount,
  validatePluginName,
  validateRange,
  validateSecretName,
  validateServiceType,
  validateVersion,
} from "../validation/fields.js";

export interface Declarations {
  provides: ServiceDecl[];
  requires: ServiceNeed[];
  secrets: SecretNeed[];
  capabilities: string[];
}

function unique<T>(field: string, items: T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  for (const item of items) {
    if (seen.has(key(item))) throw invalid(field, "declares the same name twice");
    seen.add(key(item));
  }
  return items;
}

/** Validates what a plugin declares at handshake; throws InvalidArgument naming the field. */
export function validateDeclarations(req: HandshakeRequest, limits: Limits): Declarations {
  validatePluginName("plugin_name", req.pluginName, limits.nameBytes);
  validateVersion("plugin_version", req.pluginVersion);
  validateCount("provides", req.provides.length, limits.declarations);
  validateCount("requires", req.requires.length, limits.declarations);
  validateCount("secrets", req.secrets.length, limits.declarations);
  validateCount("capabilities", req.capabilities.length, limits.declarations);
  validateCount("app_protocol_ranges", req.appProtocolRanges.length, limits.declarations);

  const provides = req.provides.map((p, i) => {
    validateServiceType(`provides[${i}].type`, p.type, limits.nameBytes);
    return { type: p.type, version: validateVersion(`provides[${i}].version`, p.version) };
  });
  const requires = req.requires.map((r, i) => {
    validateServiceType(`requires[${i}].type`, r.type, limits.nameBytes);
    return { type: r.type, versionRange: validateRange(`requires[${i}].version_range`, r.versionRange), optional: r.optional };
  });
  const secrets = req.secrets.map((s, i) => {
    validateSecretName(`secrets[${i}].name`, s.name, limits.nameBytes);
    if (s.version.length > limits.nameBytes) throw invalid(`secrets[${i}].version`, "too long");
    return { name: s.name, version: s.version, optional: s.optional };
  });
  req.capabilities.forEach((c, i) => validateServiceType(`capabilities[${i}]`, c, limits.nameBytes));
  return {
    provides: unique("provides", provides, (p) => p.type),
    requires: unique("requires", requires, (r) => r.type),
    secrets: unique("secrets", secrets, (s) => s.name),
    capabilities: unique("capabilities", [...req.capabilities], (c) => c),
  };
}
