"""A Python cortex node subscribing to the Rust example `python_talker`,
with strict fingerprint checking: /rust/camera (ImageMessage) and
/rust/wheels (robot_msgs.WheelCommand).

    cd examples/python && python3 listener.py
"""
import cortex
from cortex import Node
from cortex.messages.standard import ImageMessage
from robot_msgs import WheelCommand


async def on_image(msg, header):
    print(f"/rust/camera seq {header.sequence}: {msg.width}x{msg.height} {msg.encoding} "
          f"{msg.data.dtype}, mean {msg.data.mean():.1f}")


async def on_wheels(msg, header):
    print(f"/rust/wheels seq {header.sequence}: left {msg.left_rad_s:+.2f} "
          f"right {msg.right_rad_s:+.2f} rad/s")


async def main():
    async with Node("py_listener") as node:
        node.create_subscriber("/rust/camera", ImageMessage, callback=on_image,
                               strict_fingerprint=True)
        node.create_subscriber("/rust/wheels", WheelCommand, callback=on_wheels,
                               strict_fingerprint=True)
        await node.run()


if __name__ == "__main__":
    cortex.run(main())
