//! A user-defined message shared with Python: `robot_msgs.WheelCommand`,
//! declared for Rust with the fields of the Python class in
//! `examples/python/robot_msgs.py`, in the same order.

use cortex::prelude::*;

/// `robot_msgs.WheelCommand` (`left_rad_s: float`, `right_rad_s: float`,
/// `issued_at_ns: int`).
#[derive(Message, Debug, Clone, PartialEq)]
#[cortex(python = "robot_msgs.WheelCommand")]
pub(crate) struct WheelCommand {
    pub(crate) left_rad_s: f64,
    pub(crate) right_rad_s: f64,
    pub(crate) issued_at_ns: u64,
}
