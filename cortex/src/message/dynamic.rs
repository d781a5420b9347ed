//! Decoding a message without knowing its type (for tools like `cortex topic echo`).

use bytes::Bytes;

use super::{Field, Value};
use crate::codec::{DecodeError, DecodeErrorKind, Decoder, Header};

/// A message decoded without its type: the header and the field values in
/// wire order (arrays resolved from their out-of-band frames).
#[derive(Debug, Clone, PartialEq)]
pub struct DynamicMessage {
    /// The header.
    pub header: Header,
    /// The field values, in declaration order.
    pub fields: Vec<Value>,
}

impl DynamicMessage {
    /// Decodes `[header, metadata, oob...]` of any type.
    pub fn decode(frames: &[Bytes]) -> Result<Self, DecodeError> {
        let (header, metadata, oob) = match frames {
            [h, m, oob @ ..] => (Header::from_bytes(h)?, m, oob),
            _ => {
                return Err(DecodeError::MissingFrames {
                    found: frames.len(),
                })
            }
        };
        let mut dec = Decoder::new(metadata, oob);
        let fields = match Value::read(&mut dec)? {
            Value::List(fields) => fields,
            _ => {
                return Err(DecodeErrorKind::WrongType {
                    expected: "array",
                    found: "another value",
                }
                .into())
            }
        };
        dec.finish()?;
        Ok(DynamicMessage { header, fields })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::ImageMessage;
    use crate::{Message, NdArray};

    #[test]
    fn any_message_decodes_to_values() {
        let img = ImageMessage {
            data: NdArray::new(vec![1u8, 2, 3, 4], [2, 2]).unwrap().into(),
            encoding: "mono8".into(),
            width: 2,
            height: 2,
        };
        let frames = img.encode(4).unwrap().to_frames();
        let msg = DynamicMessage::decode(&frames).unwrap();
        assert_eq!(msg.header.fingerprint, ImageMessage::FINGERPRINT);
        assert_eq!(msg.header.sequence, 4);
        assert_eq!(msg.fields[1], Value::Str("mono8".into()));
        assert_eq!(msg.fields[2], Value::Int(2));
        assert_eq!(msg.fields[0].as_array().unwrap().as_bytes(), &[1, 2, 3, 4]);
    }
}
