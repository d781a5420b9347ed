"""An independent Foxglove WebSocket client, for the bridge test: Python's
`websockets` and `protobuf`, nothing from the Rust side.

Usage: foxglove_client.py PORT TOPIC
Connects to ws://127.0.0.1:PORT with the subprotocol foxglove.sdk.v1,
waits for TOPIC to be advertised, builds its message class from the
advertised schema (a base64 protobuf FileDescriptorSet), subscribes, and
prints one JSON line describing the first message it receives.
"""

import base64
import json
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from websockets.sync.client import connect


def message_class(channel):
    assert channel["encoding"] == "protobuf", channel
    assert channel["schemaEncoding"] == "protobuf", channel
    files = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(channel["schema"]))
    pool = descriptor_pool.DescriptorPool()
    pending = list(files.file)
    while pending:  # dependencies first, in whatever order they came
        progress = False
        for f in list(pending):
            try:
                pool.Add(f)
                pending.remove(f)
                progress = True
            except TypeError:
                pass
        assert progress, "unresolvable schema dependencies"
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(channel["schemaName"]))


def main(port, topic):
    with connect("ws://127.0.0.1:%s" % port, subprotocols=["foxglove.sdk.v1"],
                 open_timeout=30, close_timeout=2) as ws:
        channel = None
        server = None
        while channel is None:
            message = json.loads(ws.recv(timeout=30))
            if message["op"] == "serverInfo":
                server = message["name"]
            elif message["op"] == "advertise":
                for c in message["channels"]:
                    if c["topic"] == topic:
                        channel = c
        cls = message_class(channel)
        ws.send(json.dumps({"op": "subscribe",
                            "subscriptions": [{"id": 7, "channelId": channel["id"]}]}))
        while True:
            data = ws.recv(timeout=30)
            if isinstance(data, bytes) and data[0] == 0x01:
                break
        subscription, log_time = struct.unpack_from("<IQ", data, 1)
        image = cls.FromString(data[13:])
        print(json.dumps({
            "server": server,
            "schema": channel["schemaName"],
            "subscription": subscription,
            "log_time": log_time,
            "stamp_ns": image.timestamp.seconds * 10**9 + image.timestamp.nanos,
            "width": image.width,
            "height": image.height,
            "encoding": image.encoding,
            "step": image.step,
            "data": list(image.data),
        }), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
