"""A Python cortex peer for tests/tests/python_peer.rs.

Written from the wire spec (book: protocol reference) and from how the
Python cortex behaves on the wire, it plays the three roles a Python
cortex process has:

    peer.py samples VECTORS_DIR OUT.json
        every sample of message_frames.json plus samples this script encodes
        itself (e.g. a ListMessage), as one JSON file
    peer.py daemon ADDRESS [--strict-keys]
        a discovery daemon as the Python cortex's: REP socket, one publisher
        per topic, ERROR for commands it does not know; until SHUTDOWN. With
        --strict-keys it also answers ERROR to a request with a key the
        Python protocol does not have (as a daemon that built its request
        object from every key would)
    peer.py pub DISCOVERY SOCKET_DIR VECTORS_DIR SAMPLES.json COUNT TOPIC=INDEX...
        register each topic as a Python publisher does, wait for a
        subscriber on each, then send sample INDEX COUNT times (sequence
        0..COUNT-1) on it
    peer.py sub DISCOVERY VECTORS_DIR SAMPLES.json TOPIC=INDEX...
        subscribe with strict fingerprint checking (Python's
        `strict_fingerprint=True`: the topic's record must carry the
        fingerprint of the class); print "ready", then one JSON line per
        topic with the decoded values and whether they equal sample INDEX's

Fingerprints are computed here from the class path, by the Python cortex's
rule as it really applies it (not read from the vectors). Needs pyzmq and
msgpack. Exits non-zero on any protocol error.
"""
import hashlib
import json
import os
import struct
import sys
import time

import msgpack
import zmq

REGISTER, UNREGISTER, LOOKUP, LIST, PING, SHUTDOWN = 1, 2, 3, 4, 5, 99
OK, NOT_FOUND, ALREADY_EXISTS, ERROR = 0, 1, 2, 3
TOPIC_INFO_KEYS = {"name", "address", "message_type", "fingerprint", "publisher_node"}
OOB = "__cortex_oob__"
# numpy dtype string -> memoryview format (little-endian host).
FORMATS = {"|u1": "B", "|i1": "b", "<u2": "H", "<i2": "h", "<u4": "I", "<i4": "i",
           "<u8": "Q", "<i8": "q", "<f4": "f", "<f8": "d", "|b1": "?"}


def fingerprint(python_path):
    """What a Python cortex node sends: Message.__init_subclass__ caches the
    fingerprint before @dataclass adds the fields, so only the path and the
    two inherited ClassVar entries are hashed."""
    canonical = python_path + "|_field_names_cache:ClassVar,_sequence_counter:ClassVar"
    return struct.unpack(">Q", hashlib.sha256(canonical.encode()).digest()[:8])[0]


def classes(vectors):
    """class name -> its entry in standard_messages.json / user_messages.json."""
    out = {}
    for name, key in (("standard_messages.json", "standard_messages"),
                      ("user_messages.json", "user_messages")):
        with open(os.path.join(vectors, name)) as f:
            for entry in json.load(f)[key]:
                assert fingerprint(entry["python_path"]) == int(entry["fingerprint"], 16), entry
                out[entry["class"]] = entry
    return out


def load_samples(path):
    with open(path) as f:
        return json.load(f)["samples"]


def python_samples():
    """Samples this peer encodes itself, as the Python cortex's to_frames()
    does: one msgpack array of the field values (use_bin_type), arrays out
    of band. The vectors have no ListMessage sample."""
    values = [[1, "two", 3.5, None, True, {"k": [1, -2]}, b"\x00\xff"]]
    metadata = msgpack.packb(values, use_bin_type=True)
    header = struct.pack(">QQQ", fingerprint("cortex.messages.standard.ListMessage"), 0, 7)
    return [{"description": "ListMessage encoded by the Python peer", "class": "ListMessage",
             "frames_hex": [header.hex(), metadata.hex()]}]


def decode(frames):
    """Metadata + OOB frames -> the field values, arrays as
    {dtype, shape, data} (what Python's from_frames sees, without numpy)."""
    def restore(v):
        if isinstance(v, dict) and OOB in v:
            assert v[OOB] == "numpy", v
            buf = memoryview(frames[1 + v["buffer"]])
            data = buf.cast(FORMATS[v["dtype"]]).tolist() if len(buf) else []
            return {"dtype": v["dtype"], "shape": list(v["shape"]), "data": data}
        if isinstance(v, dict):
            return {k: restore(x) for k, x in v.items()}
        if isinstance(v, list):
            return [restore(x) for x in v]
        if isinstance(v, bytes):
            return {"bytes": v.hex()}
        return v
    return [restore(v) for v in msgpack.unpackb(frames[0], raw=False)]


def request(ctx, discovery, command, name=None, info=None):
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 5000)
    sock.connect(discovery)
    req = {"command": command, "topic_name": name}
    if info is not None:
        req["topic_info"] = msgpack.packb(info)
    sock.send(msgpack.packb(req))
    reply = msgpack.unpackb(sock.recv())
    sock.close()
    return reply


REQUEST_KEYS = {"command", "topic_name", "topic_info"}


def daemon(address, strict_keys=False):
    ctx = zmq.Context()
    rep = ctx.socket(zmq.REP)
    rep.setsockopt(zmq.LINGER, 0)
    rep.bind(address)
    topics = {}
    print("ready", flush=True)
    while True:
        raw = rep.recv()
        stop = False
        try:
            req = msgpack.unpackb(raw)
            if strict_keys and not set(req) <= REQUEST_KEYS:
                raise TypeError("unexpected request keys %r" % sorted(set(req) - REQUEST_KEYS))
            command, name = req["command"], req.get("topic_name")
            if command == REGISTER:
                info = msgpack.unpackb(req["topic_info"])
                if set(info) != TOPIC_INFO_KEYS:  # TopicInfo(**d)
                    raise ValueError("TopicInfo keys %r" % sorted(info))
                held = topics.get(info["name"])
                if held is not None and held["publisher_node"] != info["publisher_node"]:
                    reply = {"status": ALREADY_EXISTS, "message":
                             "Topic %s already registered by another node" % info["name"]}
                else:
                    topics[info["name"]] = info
                    reply = {"status": OK, "message": "Registered topic: " + info["name"]}
            elif command == UNREGISTER:
                found = topics.pop(name, None) is not None
                reply = {"status": OK if found else NOT_FOUND, "message": ""}
            elif command == LOOKUP:
                if name in topics:
                    reply = {"status": OK, "message": "",
                             "topic_info": msgpack.packb(topics[name])}
                else:
                    reply = {"status": NOT_FOUND, "message": "Topic not found: %s" % name}
            elif command == LIST:
                reply = {"status": OK, "message": "",
                         "topics": [msgpack.packb(i) for i in topics.values()]}
            elif command == PING:
                reply = {"status": OK, "message": "pong"}
            elif command == SHUTDOWN:
                reply, stop = {"status": OK, "message": "shutting down"}, True
            else:
                raise ValueError("%r is not a valid DiscoveryCommand" % command)
        except Exception as e:  # the Python daemon answers every request
            reply = {"status": ERROR, "message": str(e)}
        rep.send(msgpack.packb(reply))
        if stop:
            break
    rep.close()
    ctx.term()


def pairs(args):
    return [(topic, int(index)) for topic, index in (a.split("=") for a in args)]


def publish(discovery, socket_dir, vectors, samples_path, count, args):
    known, samples = classes(vectors), load_samples(samples_path)
    ctx = zmq.Context()
    out = []
    for topic, index in pairs(args):
        sample = samples[index]
        path = known[sample["class"]]["python_path"]
        # Python names its socket <node>__<topic>.sock; XPUB (not PUB) so
        # the test can wait for the subscriber instead of losing messages.
        sock = ctx.socket(zmq.XPUB)
        sock.setsockopt(zmq.LINGER, 2000)
        sock.setsockopt(zmq.RCVTIMEO, 20000)
        address = "ipc://%s/py__%s.sock" % (socket_dir, topic.replace("/", "_").lstrip("_"))
        sock.bind(address)
        info = {"name": topic, "address": address, "message_type": sample["class"],
                "fingerprint": fingerprint(path), "publisher_node": "py"}
        reply = request(ctx, discovery, REGISTER, info=info)
        assert reply["status"] == OK, reply
        frames = [bytes.fromhex(h) for h in sample["frames_hex"]]
        out.append((topic, sock, fingerprint(path), frames))
    for topic, sock, _, _ in out:
        while sock.recv()[:1] != b"\x01":
            pass
    for seq in range(count):
        for topic, sock, fp, frames in out:
            header = struct.pack(">QQQ", fp, time.time_ns(), seq)
            sock.send_multipart([topic.encode(), header] + frames[1:])
    print("sent", flush=True)
    time.sleep(0.5)
    for topic, sock, _, _ in out:
        request(ctx, discovery, UNREGISTER, name=topic)
        sock.close()
    ctx.term()


def subscribe(discovery, vectors, samples_path, args):
    known, samples = classes(vectors), load_samples(samples_path)
    ctx = zmq.Context()
    subs = []
    for topic, index in pairs(args):
        sample = samples[index]
        entry = known[sample["class"]]
        deadline = time.time() + 20
        while True:
            reply = request(ctx, discovery, LOOKUP, name=topic)
            if reply["status"] == OK:
                info = msgpack.unpackb(reply["topic_info"])
                break
            assert time.time() < deadline, "topic %s never registered" % topic
            time.sleep(0.05)
        expected_fp = fingerprint(entry["python_path"])
        if info["fingerprint"] != expected_fp:  # strict_fingerprint=True
            sys.exit("MessageFingerprintError: %s carries %s 0x%016x, %s is 0x%016x"
                     % (topic, info["message_type"], info["fingerprint"], sample["class"], expected_fp))
        assert set(info) == TOPIC_INFO_KEYS, info
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.RCVTIMEO, 20000)
        sub.setsockopt(zmq.SUBSCRIBE, topic.encode())
        sub.connect(info["address"])
        subs.append((topic, sub, sample, entry, expected_fp, info))
    print("ready", flush=True)
    for topic, sub, sample, entry, expected_fp, info in subs:
        frames = sub.recv_multipart()
        assert frames[0] == topic.encode(), frames[0]
        fp, _stamp, seq = struct.unpack(">QQQ", frames[1])
        values = decode(frames[2:])
        # from_frames: values by position, exactly one per field.
        if len(values) != len(entry["fields_in_order"]):
            sys.exit("ValueError: expected %d fields for %s, got %d"
                     % (len(entry["fields_in_order"]), sample["class"], len(values)))
        expected = decode([bytes.fromhex(h) for h in sample["frames_hex"][1:]])
        print(json.dumps({"topic": topic, "class": sample["class"], "message_type": info["message_type"],
                          "fingerprint": fp, "fingerprint_ok": fp == expected_fp, "sequence": seq,
                          "equal": values == expected, "values": values}), flush=True)
    for _, sub, *_ in subs:
        sub.close()
    ctx.term()


def main(argv):
    mode = argv[1]
    if mode == "samples":
        with open(os.path.join(argv[2], "message_frames.json")) as f:
            samples = json.load(f)["samples"]
        with open(argv[3], "w") as f:
            json.dump({"samples": samples + python_samples()}, f)
    elif mode == "daemon":
        daemon(argv[2], "--strict-keys" in argv[3:])
    elif mode == "pub":
        publish(argv[2], argv[3], argv[4], argv[5], int(argv[6]), argv[7:])
    elif mode == "sub":
        subscribe(argv[2], argv[3], argv[4], argv[5:])
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main(sys.argv)
