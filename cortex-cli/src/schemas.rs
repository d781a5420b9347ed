//! The message types this tool knows by their fingerprint: the standard
//! messages (their field names for `topic echo`, their fields for the JSON
//! Schemas of `record`).

use cortex::messages::*;
use cortex::{Message, Schema};

/// The schema of the standard message with `fingerprint`, if it is one.
pub(crate) fn known_schema(fingerprint: u64) -> Option<&'static Schema> {
    let all: [fn() -> &'static Schema; 14] = [
        ArrayMessage::schema,
        BytesMessage::schema,
        DictMessage::schema,
        FloatMessage::schema,
        HeaderMessage::schema,
        ImageMessage::schema,
        IntMessage::schema,
        ListMessage::schema,
        MultiArrayMessage::schema,
        PointCloudMessage::schema,
        PoseMessage::schema,
        StringMessage::schema,
        TimestampMessage::schema,
        TransformMessage::schema,
    ];
    all.into_iter()
        .map(|s| s())
        .find(|s| s.accepts(fingerprint))
}
