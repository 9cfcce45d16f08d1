"""A Plugboard plugin in Python with grpcio: the kv.v1.KVService provider of examples/proto.

It does what any foreign plugin does (docs/protocol.md): handshake with the host's magic cookie
and launch secret, serve its service over gRPC, register it (declaring the protocols it serves:
gRPC only, the router translates Connect and gRPC-Web callers), refresh its token at half-life,
report health and answer grpc.health.v1.Health/Check, check the signed caller header on every
call, and unregister and revoke itself on SIGTERM. It exits when its host process is gone.

Environment (set by the host's launcher; see docs/protocol.md "Environment of a launched plugin"):
PLUGBOARD_HOST_URL, PLUGBOARD_LAUNCH_SECRET, PLUGBOARD_PLUGIN_PORT, PLUGBOARD_PARENT_PID,
PLUGBOARD_MAGIC_COOKIE_KEY, PLUGBOARD_MAGIC_COOKIE_VALUE.

Stubs: generate plugboard/v1/*.proto and kv/v1/kv.proto only (see README.md); the host's
grpc/health/v1/health.proto is not needed: Health/Check is served here on raw bytes.
"""
import base64, hashlib, hmac, json, os, signal, sys, threading, time
from concurrent import futures

import grpc
from google.protobuf import descriptor_pb2

from kv.v1 import kv_pb2, kv_pb2_grpc
from plugboard.v1 import common_pb2, handshake_pb2, handshake_pb2_grpc, lifecycle_pb2, lifecycle_pb2_grpc, registry_pb2, registry_pb2_grpc

SERVICE = "kv.v1.KVService"
VERSION = "1.0.0"


def verify_caller(header, key, path, now_ms=None):
    """The caller-header check of docs/protocol.md §5 (base64url without padding)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    try:
        signed, _, mac = header.rpartition(".")
        version, issued, claims_b64 = signed.split(".")
    except ValueError:
        return None
    expected = base64.urlsafe_b64encode(hmac.new(key, f"{signed}.{path}".encode(), hashlib.sha256).digest()).rstrip(b"=")
    if version != "v1" or not hmac.compare_digest(expected, mac.encode()):
        return None
    if not (-5_000 <= now_ms - int(issued) <= 60_000):
        return None
    return json.loads(base64.urlsafe_b64decode(claims_b64 + "=" * (-len(claims_b64) % 4)))


class Plugin:
    def __init__(self):
        env = os.environ
        self.host_url = env["PLUGBOARD_HOST_URL"]
        self.port = int(env.get("PLUGBOARD_PLUGIN_PORT", "0"))
        self.cookie = (env["PLUGBOARD_MAGIC_COOKIE_KEY"], env["PLUGBOARD_MAGIC_COOKIE_VALUE"])
        # Read once and dropped, so processes this plugin starts do not inherit it.
        self.launch_secret = env.pop("PLUGBOARD_LAUNCH_SECRET", "")
        self.parent_pid = int(env.get("PLUGBOARD_PARENT_PID", "0"))
        self.name = env.get("PLUGIN_NAME", "py-kv")
        target = self.host_url.split("://", 1)[1].rstrip("/")
        self.channel = grpc.insecure_channel(target)
        self.handshake = handshake_pb2_grpc.HandshakeServiceStub(self.channel)
        self.registry = registry_pb2_grpc.RegistryServiceStub(self.channel)
        self.lifecycle = lifecycle_pb2_grpc.LifecycleServiceStub(self.channel)
        self.token = ""
        self.runtime_id = ""
        self.signing_key = b""
        self.registration_id = ""
        self.stopping = threading.Event()

    def auth(self):
        return (("authorization", f"Bearer {self.token}"),)

    def start(self, server_port):
        base_url = f"http://127.0.0.1:{server_port}"
        # A handshake carries no authorization header: the cookie and launch secret admit it.
        res = self.handshake.Handshake(handshake_pb2.HandshakeRequest(
            magic_cookie_key=self.cookie[0], magic_cookie_value=self.cookie[1], core_protocol_version=1,
            app_protocol_ranges=["^1.0.0"], plugin_name=self.name, plugin_version=VERSION,
            provides=[common_pb2.ServiceDeclaration(type=SERVICE, version=VERSION)],
            base_url=base_url, launch_secret=self.launch_secret,
        ), timeout=10)
        self.token, self.runtime_id, self.signing_key = res.runtime_token, res.runtime_id, res.caller_signing_key
        self.schedule_refresh(res.token_expires_at.ToMilliseconds())
        # The service's descriptors, so the host can describe it over gRPC reflection.
        descriptors = descriptor_pb2.FileDescriptorSet()
        descriptors.file.add().MergeFromString(kv_pb2.DESCRIPTOR.serialized_pb)
        reg = self.registry.Register(registry_pb2.RegisterRequest(
            service_type=SERVICE, protocols=[common_pb2.PROTOCOL_GRPC],
            file_descriptor_set=descriptors.SerializeToString(),
        ), metadata=self.auth(), timeout=10)
        self.registration_id = reg.registration.registration_id
        self.lifecycle.ReportHealth(lifecycle_pb2.ReportHealthRequest(state=common_pb2.HEALTH_STATE_HEALTHY), metadata=self.auth(), timeout=10)
        print(json.dumps({"ready": True, "runtimeId": self.runtime_id, "baseUrl": base_url}), flush=True)

    def schedule_refresh(self, expires_at_ms):
        delay = max(1.0, (expires_at_ms - time.time() * 1000) / 2000)
        timer = threading.Timer(delay, self.refresh)
        timer.daemon = True
        timer.start()

    def refresh(self):
        if self.stopping.is_set():
            return
        try:
            res = self.handshake.RefreshToken(handshake_pb2.RefreshTokenRequest(), metadata=self.auth(), timeout=10)
            self.token = res.runtime_token
            self.schedule_refresh(res.token_expires_at.ToMilliseconds())
        except grpc.RpcError as e:
            print(f"token refresh failed: {e.code()}", file=sys.stderr, flush=True)
            self.schedule_refresh(time.time() * 1000 + 10_000)

    def stop(self):
        self.stopping.set()
        try:
            self.registry.Unregister(registry_pb2.UnregisterRequest(registration_id=self.registration_id), metadata=self.auth(), timeout=2)
            self.handshake.Revoke(handshake_pb2.RevokeRequest(runtime_id=self.runtime_id, reason="shutdown"), metadata=self.auth(), timeout=2)
        except grpc.RpcError:
            pass  # the host may already be gone


class KV(kv_pb2_grpc.KVServiceServicer):
    def __init__(self, plugin):
        self.plugin = plugin
        self.store = {}

    def caller(self, context, method):
        header = dict(context.invocation_metadata()).get("plugboard-caller", "")
        claims = verify_caller(header, self.plugin.signing_key, f"/{SERVICE}/{method}")
        if claims is None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "call did not come through the host")
        return claims

    def Get(self, request, context):
        claims = self.caller(context, "Get")
        context.set_trailing_metadata((("x-served-by", "python"),))
        if request.key == "missing":
            context.abort(grpc.StatusCode.NOT_FOUND, f"no such key: {request.key}")
        value = self.store.get(request.key)
        return kv_pb2.GetResponse(key=request.key, value=value or b"", found=value is not None, caller=claims["sub"])

    def Put(self, request, context):
        self.caller(context, "Put")
        self.store[request.key] = request.value
        return kv_pb2.PutResponse()

    def List(self, request, context):
        self.caller(context, "List")
        context.set_trailing_metadata((("x-served-by", "python"),))
        for i in range(3):
            if request.delay_ms:
                time.sleep(request.delay_ms / 1000)
            if not context.is_active():
                return
            yield kv_pb2.ListResponse(key=f"{request.prefix}{i}", value=bytes([i]))
        if request.prefix == "fail":
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "listing failed after 3 items")


def health_check(request_bytes, context):
    # grpc.health.v1.HealthCheckResponse{status: SERVING} is the two bytes 08 01.
    return b"\x08\x01"


def watch_parent(parent_pid, on_gone):
    """PLUGBOARD_PARENT_PID: exit when the host process is gone (the launcher's watchdog duty)."""
    def loop():
        while True:
            time.sleep(1)
            if os.getppid() != parent_pid:
                on_gone()
                return
    threading.Thread(target=loop, daemon=True).start()


def main():
    plugin = Plugin()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    kv_pb2_grpc.add_KVServiceServicer_to_server(KV(plugin), server)
    identity = lambda b: b
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(health_check, request_deserializer=identity, response_serializer=identity),
    }),))
    port = server.add_insecure_port(f"127.0.0.1:{plugin.port}")
    server.start()
    done = threading.Event()

    def shutdown(*_):
        plugin.stop()
        server.stop(grace=2)
        done.set()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    if plugin.parent_pid:
        watch_parent(plugin.parent_pid, lambda: os.kill(os.getpid(), signal.SIGTERM))
    plugin.start(port)
    done.wait()


if __name__ == "__main__":
    main()
