//! The standard messages, wire- and fingerprint-compatible with the Python
//! cortex's `cortex.messages.standard` classes (same field order, same
//! fingerprints, same type names).
//!
//! Array fields are [`DynArray`] because a Python peer may send any dtype;
//! use [`DynArray::get`] for a typed view.

use indexmap::IndexMap;

use super::{DynArray, Value};
use crate::Message;

/// A UTF-8 string (`StringMessage`).
#[derive(Message, Debug, Clone, PartialEq)]
#[cortex(python = "cortex.messages.standard.StringMessage")]
pub struct StringMessage {
    /// The text.
    pub data: String,
}

/// An integer (`IntMessage`).
#[derive(Message, Debug, Clone, PartialEq)]
#[cortex(python = "cortex.messages.standard.IntMessage")]
pub struct IntMessage {
    /// The value.
    pub data: i64,
}

/// A float (`FloatMessage`).
#[derive(Message, Debug, Clone, PartialEq)]
#[cortex(python = "cortex.messages.standard.FloatMessage")]
pub struct FloatMessage {
    /// The value.
    pub data: f64,
}

/// A byte blob (`BytesMessage`).
#[derive(Message, Debug, Clone, PartialEq)]
#[cortex(python = "cortex.messages.standard.BytesMessage")]
pub struct BytesMessage {
    /// The bytes (msgpack bin).
    pub data: Vec<u8>,
}

/// A named array (`ArrayMessage`).
#[derive(Message, Debug, Clone, PartialEq)]
#[cortex(python = "cortex.messages.standard.ArrayMessage")]
pub struct ArrayMessage {
    /// The array.
    pub data: DynArray,
    /// Its name.
    pub name: String,
    /// Coordinate frame.
    pub frame_id: String,
}

/// Several named arrays (`MultiArrayMessage`).
#[derive(Message, Debug, Clone, PartialEq)]
#[cortex(python = "cortex.messages.standard.MultiArrayMessage")]
pub struct MultiArrayMessage {
    /// The arrays by name, in insertion order.
    pub arrays: IndexMap<String, DynArray>,
    /// Coordinate frame.
    pub frame_id: String,
}

/// An image (`ImageMessage`): `data` is `height × width [× channels]`.
#[derive(Message, Debug, Clone, PartialEq)]
#[cortex(python = "cortex.messages.standard.ImageMessage")]
pub struct ImageMessage {
    /// The pixels.
    pub data: DynArray,
    /// Pixel encoding, e.g. `rgb8`, `mono8`.
    pub encoding: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// A point cloud (`PointCloudMessage`): `points` is `N × 3`.
#[derive(Message, Debug, Clone, PartialEq)]
#[cortex(python = "cortex.messages.standard.PointCloudMessage")]
pub struct PointCloudMessage {
    /// Point coordinates, `N × 3`.
    pub points: DynArray,
    /// Per-point colours, if any.
    pub colors: Option<DynArray>,
    /// Per-point intensity, if any.
    pub intensity: Option<DynArray>,
    /// Per-point normals, if any.
    pub normals: Option<DynArray>,
    /// Coordinate frame.
    pub frame_id: String,
}

/// A pose (`PoseMessage`): position `[3]`, orientation quaternion `[4]`.
#[derive(Message, Debug, Clone, PartialEq)]
#[cortex(python = "cortex.messages.standard.PoseMessage")]
pub struct PoseMessage {
    /// Position `[x, y, z]`.
    pub position: DynArray,
    /// Orientation quaternion `[x, y, z, w]`.
    pub orientation: DynArray,
    /// Parent frame.
    pub frame_id: String,
    /// Child frame.
    pub child_frame_id: String,
}

/// A rigid transform (`TransformMessage`): a `4 × 4` matrix.
#[derive(Message, Debug, Clone, PartialEq)]
#[cortex(python = "cortex.messages.standard.TransformMessage")]
pub struct TransformMessage {
    /// Homogeneous matrix, `4 × 4`.
    pub matrix: DynArray,
    /// Parent frame.
    pub frame_id: String,
    /// Child frame.
    pub child_frame_id: String,
}

/// A point in time (`TimestampMessage`).
#[derive(Message, Debug, Clone, PartialEq)]
#[cortex(python = "cortex.messages.standard.TimestampMessage")]
pub struct TimestampMessage {
    /// Seconds.
    pub sec: i64,
    /// Nanoseconds within the second.
    pub nanosec: i64,
}

/// A ROS-style header (`HeaderMessage`).
#[derive(Message, Debug, Clone, PartialEq)]
#[cortex(python = "cortex.messages.standard.HeaderMessage")]
pub struct HeaderMessage {
    /// Seconds.
    pub stamp_sec: i64,
    /// Nanoseconds within the second.
    pub stamp_nanosec: i64,
    /// Coordinate frame.
    pub frame_id: String,
    /// Sequence number.
    pub sequence: i64,
}

/// A dictionary of dynamic values (`DictMessage`). Arrays nested anywhere
/// inside travel as out-of-band frames.
#[derive(Message, Debug, Clone, PartialEq)]
#[cortex(python = "cortex.messages.standard.DictMessage")]
pub struct DictMessage {
    /// The entries, in insertion order (string keys).
    pub data: IndexMap<String, Value>,
}

/// A list of dynamic values (`ListMessage`).
#[derive(Message, Debug, Clone, PartialEq)]
#[cortex(python = "cortex.messages.standard.ListMessage")]
pub struct ListMessage {
    /// The items.
    pub data: Vec<Value>,
}
