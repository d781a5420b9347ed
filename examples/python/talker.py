"""A Python cortex node publishing to the Rust example `python_listener`:
an ImageMessage on /camera and a robot_msgs.WheelCommand on /wheels, 10 Hz.

    cd examples/python && python3 talker.py
"""
import time

import numpy as np

import cortex
from cortex import Node
from cortex.messages.standard import ImageMessage
from robot_msgs import WheelCommand


class Talker(Node):
    def __init__(self):
        super().__init__("py_talker")
        self.camera = self.create_publisher("/camera", ImageMessage)
        self.wheels = self.create_publisher("/wheels", WheelCommand)
        self.n = 0
        self.create_timer(0.1, self.tick)

    async def tick(self):
        frame = np.full((48, 64), self.n % 256, dtype=np.uint8)
        self.camera.publish(ImageMessage(data=frame, encoding="mono8", width=64, height=48))
        self.wheels.publish(WheelCommand(left_rad_s=0.5, right_rad_s=-0.5, issued_at_ns=time.time_ns()))
        self.n += 1


async def main():
    async with Talker() as node:
        await node.run()


if __name__ == "__main__":
    cortex.run(main())
