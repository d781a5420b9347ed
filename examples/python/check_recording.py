"""Reads a cortex recording with the official Python MCAP libraries
(`mcap`, `mcap-protobuf-support`): an independent check that a file from
`cortex record --foxglove` is what generic MCAP tools and Foxglove read.

Usage: check_recording.py FILE.mcap
Prints one JSON object: every channel (topic, encodings, schema, count,
metadata), the first images of each foxglove.RawImage channel decoded with
the schema stored in the file, and the first message of each JSON channel.
"""

import json
import sys

from mcap.reader import make_reader
from mcap_protobuf.decoder import DecoderFactory


def main(path):
    out = {"channels": {}, "images": {}, "json": {}}
    protobuf = DecoderFactory()
    with open(path, "rb") as f:
        reader = make_reader(f)
        summary = reader.get_summary()
        assert summary is not None, "no summary section"
        counts = summary.statistics.channel_message_counts
        for cid, channel in summary.channels.items():
            schema = summary.schemas.get(channel.schema_id)
            out["channels"][channel.topic] = {
                "message_encoding": channel.message_encoding,
                "schema": schema.name if schema else None,
                "schema_encoding": schema.encoding if schema else None,
                "count": counts.get(cid, 0),
                "metadata": dict(channel.metadata),
            }
        for schema, channel, message in reader.iter_messages():
            topic = channel.topic
            if channel.message_encoding == "protobuf" and schema.name == "foxglove.RawImage":
                images = out["images"].setdefault(topic, [])
                if len(images) < 5:
                    decode = protobuf.decoder_for(channel.message_encoding, schema)
                    image = decode(message.data)
                    images.append({
                        "log_time": message.log_time,
                        "stamp_ns": image.timestamp.seconds * 10**9 + image.timestamp.nanos,
                        "width": image.width,
                        "height": image.height,
                        "encoding": image.encoding,
                        "step": image.step,
                        "bytes": len(image.data),
                        "first_byte": image.data[0] if image.data else None,
                    })
            elif channel.message_encoding == "json" and topic not in out["json"]:
                out["json"][topic] = json.loads(message.data)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
