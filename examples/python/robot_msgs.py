"""A user-defined message shared with Rust.

Its fingerprint is computed from the class path, `robot_msgs.WheelCommand`,
so keep it in a module of that name (a class defined in the script you run
is `__main__.WheelCommand`, another fingerprint). The Rust declaration is in
examples/examples/robot_msgs/mod.rs: the same fields in the same order.
"""
from dataclasses import dataclass

from cortex import Message


@dataclass
class WheelCommand(Message):
    left_rad_s: float
    right_rad_s: float
    issued_at_ns: int
