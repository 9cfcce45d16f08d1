import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { Health, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import type { Store } from "../store/types.js";

/**
 * The standard grpc.health.v1.Health service, so ordinary probes work. The empty
 * service name is the host as a whole: serving while its store answers.
 */
export function createGrpcHealthService(store: Store, services: ReadonlySet<string>): ServiceImpl<typeof Health> {
  async function status(service: string) {
    if (service !== "" && !services.has(service)) throw new ConnectError(`unknown service ${service}`, Code.NotFound);
    const up = await store.ping().catch(() => false);
    return up ? HealthCheckResponse_ServingStatus.SERVING : HealthCheckResponse_ServingStatus.NOT_SERVING;
  }
  return {
    async check(req) {
      return create(HealthCheckResponseSchema, { status: await status(req.service) });
    },
    async *watch(req, context) {
      let last: HealthCheckResponse_ServingStatus | undefined;
      while (!context.signal.aborted) {
        const now = await status(req.service);
        if (now !== last) yield create(HealthCheckResponseSchema, { status: now });
        last = now;
        await new Promise((resolve) => setTimeout(resolve, 5_000).unref());
      }
    },
  };
}
