"""A minimal cortex peer written from the wire spec (book: protocol reference),
used by tests/tests/python_peer.rs to check that Python and Rust interoperate.

    peer.py pub DISCOVERY TOPIC SOCKET_PATH COUNT   publish IntMessage 0..COUNT
    peer.py sub DISCOVERY TOPIC COUNT               print COUNT ArrayMessages as JSON lines

Needs pyzmq and msgpack. Exits non-zero on any protocol error.
"""
import json
import struct
import sys
import time

import msgpack
import zmq

REGISTER, UNREGISTER, LOOKUP = 1, 2, 3
INT_FP = 0x42F8B4FAA21C139A
ARRAY_FP = 0x2FB6636A4E5CD987


def request(ctx, discovery, command, name=None, info=None):
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 2000)
    sock.connect(discovery)
    req = {"command": command, "topic_name": name}
    if info is not None:
        req["topic_info"] = msgpack.packb(info)
    sock.send(msgpack.packb(req))
    reply = msgpack.unpackb(sock.recv())
    sock.close()
    return reply


def publish(discovery, topic, path, count):
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.LINGER, 1000)
    address = "ipc://" + path
    pub.bind(address)
    info = {"name": topic, "address": address, "message_type": "IntMessage",
            "fingerprint": INT_FP, "publisher_node": "py"}
    reply = request(ctx, discovery, REGISTER, info=info)
    assert reply["status"] == 0, reply
    # Wait for the subscription (XPUB sees b"\x01" + topic): no slow joiner.
    pub.setsockopt(zmq.RCVTIMEO, 20000)
    while pub.recv()[:1] != b"\x01":
        pass
    for seq in range(count):
        header = struct.pack(">QQQ", INT_FP, time.time_ns(), seq)
        pub.send_multipart([topic.encode(), header, msgpack.packb([seq * 1000 - 7])])
    time.sleep(0.2)
    request(ctx, discovery, UNREGISTER, name=topic)
    pub.close()
    ctx.term()


def subscribe(discovery, topic, count):
    ctx = zmq.Context()
    deadline = time.time() + 20
    while True:
        reply = request(ctx, discovery, LOOKUP, name=topic)
        if reply["status"] == 0:
            info = msgpack.unpackb(reply["topic_info"])
            break
        assert time.time() < deadline, "topic never registered"
        time.sleep(0.05)
    assert info["fingerprint"] == ARRAY_FP, info
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVTIMEO, 20000)
    sub.setsockopt(zmq.SUBSCRIBE, topic.encode())
    sub.connect(info["address"])
    print("ready", flush=True)
    for _ in range(count):
        frames = sub.recv_multipart()
        fingerprint, _stamp, seq = struct.unpack(">QQQ", frames[1])
        data, name, frame_id = msgpack.unpackb(frames[2])
        assert data["__cortex_oob__"] == "numpy", data
        buf = frames[3 + data["buffer"]]
        assert data["dtype"] == "<f4", data
        values = list(struct.unpack("<%df" % (len(buf) // 4), buf))
        print(json.dumps({"fingerprint": fingerprint, "sequence": seq, "shape": data["shape"],
                          "values": values, "name": name, "frame_id": frame_id}), flush=True)
    sub.close()
    ctx.term()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "pub":
        publish(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    elif mode == "sub":
        subscribe(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit("unknown mode " + mode)
