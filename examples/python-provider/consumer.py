"""A Plugboard consumer in Python with grpcio: handshakes declaring it requires kv.v1.KVService,
then calls whichever plugin provides it through the host's router (gRPC, bearer runtime token).

Usage: PLUGBOARD_HOST_URL=http://127.0.0.1:7000 PLUGBOARD_MAGIC_COOKIE_KEY=... PLUGBOARD_MAGIC_COOKIE_VALUE=... \
       python3 consumer.py <key> <value>
Prints one JSON line: what Get answered after Put, and the code a missing key got.
"""
import json, os, sys

import grpc

from kv.v1 import kv_pb2, kv_pb2_grpc
from plugboard.v1 import common_pb2, handshake_pb2, handshake_pb2_grpc


def main():
    env = os.environ
    channel = grpc.insecure_channel(env["PLUGBOARD_HOST_URL"].split("://", 1)[1].rstrip("/"))
    res = handshake_pb2_grpc.HandshakeServiceStub(channel).Handshake(handshake_pb2.HandshakeRequest(
        magic_cookie_key=env["PLUGBOARD_MAGIC_COOKIE_KEY"], magic_cookie_value=env["PLUGBOARD_MAGIC_COOKIE_VALUE"],
        core_protocol_version=1, app_protocol_ranges=["^1.0.0"], plugin_name="py-consumer", plugin_version="1.0.0",
        requires=[common_pb2.ServiceRequirement(type="kv.v1.KVService", version_range="^1.0.0")],
        launch_secret=env.pop("PLUGBOARD_LAUNCH_SECRET", ""),
    ), timeout=10)
    auth = (("authorization", f"Bearer {res.runtime_token}"),)
    kv = kv_pb2_grpc.KVServiceStub(channel)
    key, value = sys.argv[1], sys.argv[2].encode()
    kv.Put(kv_pb2.PutRequest(key=key, value=value), metadata=auth, timeout=10)
    got = kv.Get(kv_pb2.GetRequest(key=key), metadata=auth, timeout=10)
    unauthenticated = None
    try:
        kv.Get(kv_pb2.GetRequest(key=key), metadata=(("authorization", "Bearer pbrt_wrong"),), timeout=10)
    except grpc.RpcError as e:
        unauthenticated = e.code().name
    print(json.dumps({"key": got.key, "value": got.value.decode(), "found": got.found, "caller": got.caller, "wrongToken": unauthenticated}), flush=True)


if __name__ == "__main__":
    main()
