import { Code, ConnectError } from "@connectrpc/connect";
import { HOST_CALLER } from "../host-client/identity.js";
import type { HostPolicy } from "./host-policy.js";
import type { Rbac } from "./rbac.js";

/**
 * What the host app itself may call: everything, unless the host policy's `mayHostCall` says no,
 * or RBAC is configured — then the subject "host" needs `call:<service>/<method>` like anyone else.
 */
export function hostAppAuthorization(policy: HostPolicy, rbac: Rbac | undefined) {
  return (serviceType: string, method: string): void => {
    if (rbac) rbac.require(HOST_CALLER, `call:${serviceType}/${method}`);
    if (policy.mayHostCall && !policy.mayHostCall(serviceType, method))
      throw new ConnectError(`host policy does not allow the host app to call ${serviceType}/${method}`, Code.PermissionDenied);
  };
}
