import type { Rbac } from "./rbac.js";

/** An Rbac whose rules can be replaced while the host runs (config reload); every check sees the current rules. */
export interface SwappableRbac extends Rbac {
  swap(next: Rbac): void;
}

export function createSwappableRbac(initial: Rbac): SwappableRbac {
  let current = initial;
  return {
    rolesFor: (who) => current.rolesFor(who),
    check: (who, permission) => current.check(who, permission),
    require: (who, permission) => current.require(who, permission),
    boundPluginNames: () => current.boundPluginNames(),
    swap(next) {
      current = next;
    },
  };
}
