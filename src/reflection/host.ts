import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { ServerReflection as ReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import type { Store } from "../store/types.js";
import { filesOf } from "./descriptor-set.js";
import { DescriptorPool } from "./pool.js";
import { createReflectionV1, createReflectionV1alpha } from "./service.js";

/**
 * gRPC server reflection on the host: its own services, and every plugin service whose
 * registration carried descriptors (dropped when the registration goes). Served like any host
 * service, so only authenticated callers reach it.
 */
export function createHostReflection(store: Store, hostServices: readonly DescService[]) {
  const pool = new DescriptorPool();
  pool.addFiles("host", filesOf([...hostServices, ReflectionV1, ReflectionV1alpha]).map((f) => f.proto));
  const stop = store.subscribe((event) => {
    if (event.type === "removed") pool.remove(event.registration.registrationId);
  });
  return {
    pool,
    typeNames: [ReflectionV1.typeName, ReflectionV1alpha.typeName],
    mount(router: ConnectRouter) {
      router.service(ReflectionV1, createReflectionV1(pool));
      router.service(ReflectionV1alpha, createReflectionV1alpha(pool));
    },
    close: stop,
  };
}
