//! How each cortex message type is shown in Foxglove: the schema of its
//! channel and the conversion of every message. Used by the live bridge
//! and by recordings that add a Foxglove channel per topic.
//!
//! | cortex type | Foxglove schema | encoding |
//! |---|---|---|
//! | `ImageMessage` | `foxglove.RawImage` | protobuf |
//! | `PointCloudMessage` | `foxglove.PointCloud` | protobuf |
//! | `PoseMessage` | `foxglove.PoseInFrame` | protobuf |
//! | `TransformMessage` | `foxglove.FrameTransform` | protobuf |
//! | any other | the cortex type name, a JSON Schema of its fields | json |
//!
//! Every converted message carries the header's `timestamp_ns` as its
//! timestamp. Choices made where cortex and Foxglove differ:
//!
//! - **Images** have no frame in cortex: `frame_id` is empty. The encoding
//!   is mapped to Foxglove's name (`rgb`, `gray`… are accepted too); one
//!   Foxglove does not know is guessed from the array (`u8` with 1, 3 or 4
//!   channels: `mono8`, `rgb8`, `rgba8`; `u16`: `mono16`; `f32`: `32FC1`).
//!   `step` is `width ×` bytes per pixel (cortex arrays have no row
//!   padding).
//! - **Point clouds** are packed as `x, y, z` float32, then, when present,
//!   `red, green, blue, alpha` uint8 (float colours are taken as 0..1,
//!   integer ones as 0..255; alpha 255 without a fourth channel) and
//!   `intensity` float32. The pose is the identity. Normals are not shown.
//! - **Poses** lose `child_frame_id` (`PoseInFrame` has none).
//! - **Transforms**: the translation is the matrix' last column, the
//!   rotation the quaternion of its upper-left 3 × 3 ([`rotation`](super::rotation)).
//! - **Other types**: see [`json_view`](super::json_view).

use ::foxglove::messages::{
    packed_element_field::NumericType, FrameTransform, PackedElementField, PointCloud, Pose,
    PoseInFrame, Quaternion, RawImage, Timestamp, Vector3,
};
use ::foxglove::{Encode, Schema};
use bytes::Bytes;
use cortex::message::DynamicMessage;
use cortex::messages::{ImageMessage, PointCloudMessage, PoseMessage, TransformMessage};
use cortex::{DType, DecodeError, DynArray, Header, Message};

use super::{json_view, rotation};
use crate::schemas::{known_schema, TypeLayout};

/// How messages of one cortex type are shown in Foxglove: the schema and
/// message encoding of their channel, and the conversion of each message.
#[derive(Debug, Clone)]
pub(crate) struct Mapping {
    kind: Kind,
    /// The fingerprint it was chosen for.
    fingerprint: u64,
    /// The cortex type name.
    type_name: String,
    schema: Schema,
    message_encoding: &'static str,
}

/// The conversions.
#[derive(Debug, Clone)]
enum Kind {
    Image,
    PointCloud,
    Pose,
    Transform,
    /// Field values as a JSON object; field names from the schema when the
    /// type is a standard message.
    Json(Option<TypeLayout>),
}

/// Why a message could not be converted. The bridge counts and skips such
/// messages.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConvertError {
    /// The frames are not a message of the channel's type.
    #[error("cannot decode it as {type_name}: {source}")]
    Decode {
        /// The type the channel shows.
        type_name: String,
        /// What was wrong.
        source: DecodeError,
    },
    /// The message decodes but its content does not fit the Foxglove
    /// schema (an array of the wrong shape, an image too short…).
    #[error("this {type_name} cannot be shown as {schema}: {problem}")]
    Unfit {
        /// The cortex type.
        type_name: &'static str,
        /// The Foxglove schema.
        schema: &'static str,
        /// What does not fit, and what it should be.
        problem: String,
    },
    /// Serialising the converted message failed.
    #[error("cannot encode it as {schema}: {cause}")]
    Encode {
        /// The Foxglove schema.
        schema: String,
        /// What went wrong.
        cause: String,
    },
}

impl Mapping {
    /// The mapping of messages with `fingerprint`, the type advertised as
    /// `type_name`; `layout` names the fields of a type shown as JSON (for
    /// a standard message it is known here).
    pub(crate) fn for_type(
        fingerprint: u64,
        type_name: &str,
        layout: Option<&TypeLayout>,
    ) -> Mapping {
        let protobuf = |kind, schema: Option<Schema>| {
            schema.map(|schema| Mapping {
                kind,
                fingerprint,
                type_name: type_name.to_owned(),
                schema,
                message_encoding: "protobuf",
            })
        };
        let standard = if ImageMessage::accepts_fingerprint(fingerprint) {
            protobuf(Kind::Image, RawImage::get_schema())
        } else if PointCloudMessage::accepts_fingerprint(fingerprint) {
            protobuf(Kind::PointCloud, PointCloud::get_schema())
        } else if PoseMessage::accepts_fingerprint(fingerprint) {
            protobuf(Kind::Pose, PoseInFrame::get_schema())
        } else if TransformMessage::accepts_fingerprint(fingerprint) {
            protobuf(Kind::Transform, FrameTransform::get_schema())
        } else {
            None
        };
        standard.unwrap_or_else(|| {
            let layout = layout
                .cloned()
                .or_else(|| TypeLayout::standard(fingerprint));
            Mapping {
                schema: Schema::new(
                    type_name,
                    "jsonschema",
                    crate::record::json_schema::json_schema(
                        type_name,
                        fingerprint,
                        layout.as_ref(),
                    ),
                ),
                kind: Kind::Json(layout),
                fingerprint,
                type_name: type_name.to_owned(),
                message_encoding: "json",
            }
        })
    }

    /// Whether messages with `fingerprint` are of the type this mapping
    /// shows (its fingerprint, or the type's alternate one).
    pub(crate) fn accepts(&self, fingerprint: u64) -> bool {
        fingerprint == self.fingerprint
            || match self.kind {
                Kind::Image => ImageMessage::accepts_fingerprint(fingerprint),
                Kind::PointCloud => PointCloudMessage::accepts_fingerprint(fingerprint),
                Kind::Pose => PoseMessage::accepts_fingerprint(fingerprint),
                Kind::Transform => TransformMessage::accepts_fingerprint(fingerprint),
                Kind::Json(_) => {
                    known_schema(self.fingerprint).is_some_and(|s| s.accepts(fingerprint))
                }
            }
    }

    /// The schema name, e.g. `foxglove.RawImage`, or the cortex type name
    /// for JSON.
    pub(crate) fn schema_name(&self) -> &str {
        &self.schema.name
    }

    /// The schema encoding: `protobuf` or `jsonschema`.
    pub(crate) fn schema_encoding(&self) -> &str {
        &self.schema.encoding
    }

    /// The schema data: a protobuf `FileDescriptorSet` or a JSON Schema.
    pub(crate) fn schema_data(&self) -> &[u8] {
        &self.schema.data
    }

    /// The message encoding: `protobuf` or `json`.
    pub(crate) fn message_encoding(&self) -> &'static str {
        self.message_encoding
    }

    /// Converts the message in `frames` (header, metadata, out-of-band
    /// buffers) into `out`, replacing what it held; returns the message's
    /// header (its `timestamp_ns` is the log time to use).
    pub(crate) fn encode(
        &self,
        frames: &[Bytes],
        out: &mut Vec<u8>,
    ) -> Result<Header, ConvertError> {
        out.clear();
        match &self.kind {
            Kind::Image => {
                let (image, header) = decode::<ImageMessage>(frames)?;
                protobuf(&raw_image(image, &header)?, out)?;
                Ok(header)
            }
            Kind::PointCloud => {
                let (cloud, header) = decode::<PointCloudMessage>(frames)?;
                protobuf(&point_cloud(cloud, &header)?, out)?;
                Ok(header)
            }
            Kind::Pose => {
                let (pose, header) = decode::<PoseMessage>(frames)?;
                protobuf(&pose_in_frame(pose, &header)?, out)?;
                Ok(header)
            }
            Kind::Transform => {
                let (transform, header) = decode::<TransformMessage>(frames)?;
                protobuf(&frame_transform(transform, &header)?, out)?;
                Ok(header)
            }
            Kind::Json(layout) => {
                let message =
                    DynamicMessage::decode(frames).map_err(|source| ConvertError::Decode {
                        type_name: self.type_name.clone(),
                        source,
                    })?;
                let json = json_view::message(&message.fields, layout.as_ref());
                serde_json::to_writer(&mut *out, &json).map_err(|e| ConvertError::Encode {
                    schema: self.type_name.clone(),
                    cause: e.to_string(),
                })?;
                Ok(message.header)
            }
        }
    }
}

fn decode<M: Message>(frames: &[Bytes]) -> Result<(M, Header), ConvertError> {
    M::decode(frames).map_err(|source| ConvertError::Decode {
        type_name: M::TYPE_NAME.to_owned(),
        source,
    })
}

/// `message` as protobuf into `out`.
fn protobuf<M: Encode>(message: &M, out: &mut Vec<u8>) -> Result<(), ConvertError> {
    if let Some(len) = message.encoded_len() {
        out.reserve(len);
    }
    message.encode(out).map_err(|e| ConvertError::Encode {
        schema: M::get_schema().map_or_else(String::new, |s| s.name),
        cause: e.to_string(),
    })
}

/// Foxglove's timestamp of `timestamp_ns` (saturating in 2106).
pub(crate) fn timestamp(timestamp_ns: u64) -> Timestamp {
    const NS: u64 = 1_000_000_000;
    match u32::try_from(timestamp_ns / NS) {
        // The remainder is below 10⁹: no carry.
        Ok(sec) => {
            Timestamp::new_checked(sec, (timestamp_ns % NS) as u32).unwrap_or(Timestamp::MAX)
        }
        Err(_) => Timestamp::MAX,
    }
}

/// The encodings Foxglove's `RawImage` knows, with the bytes per pixel of
/// a row (`nv12`: of its luma plane).
const IMAGE_ENCODINGS: [(&str, u32); 19] = [
    ("rgb8", 3),
    ("rgba8", 4),
    ("bgr8", 3),
    ("8UC3", 3),
    ("bgra8", 4),
    ("mono8", 1),
    ("8UC1", 1),
    ("mono16", 2),
    ("16UC1", 2),
    ("32FC1", 4),
    ("yuv422", 2),
    ("uyvy", 2),
    ("yuv422_yuy2", 2),
    ("yuyv", 2),
    ("nv12", 1),
    ("bayer_rggb8", 1),
    ("bayer_bggr8", 1),
    ("bayer_gbrg8", 1),
    ("bayer_grbg8", 1),
];

/// Foxglove's name of the image encoding `encoding` of `data`, and its
/// bytes per pixel; see the module docs for aliases and guesses.
fn image_encoding(encoding: &str, data: &DynArray) -> Option<(&'static str, u32)> {
    let known = |name: &str| IMAGE_ENCODINGS.iter().copied().find(|(n, _)| *n == name);
    if let Some(found) = known(encoding) {
        return Some(found);
    }
    let alias = match encoding.to_ascii_lowercase().as_str() {
        "rgb" | "rgb8" => "rgb8",
        "rgba" | "rgba8" => "rgba8",
        "bgr" | "bgr8" => "bgr8",
        "bgra" | "bgra8" => "bgra8",
        "mono" | "mono8" | "gray" | "grey" | "gray8" | "grey8" | "l" | "8uc1" => "mono8",
        "mono16" | "gray16" | "grey16" | "16uc1" => "mono16",
        "32fc1" => "32FC1",
        "8uc3" => "8UC3",
        _ => {
            let channels = match data.shape() {
                [_, _] => 1,
                [_, _, c] => *c,
                _ => return None,
            };
            match (data.dtype(), channels) {
                (DType::U8, 1) => "mono8",
                (DType::U8, 3) => "rgb8",
                (DType::U8, 4) => "rgba8",
                (DType::U16, 1) => "mono16",
                (DType::F32, 1) => "32FC1",
                _ => return None,
            }
        }
    };
    known(alias)
}

fn raw_image(image: ImageMessage, header: &Header) -> Result<RawImage, ConvertError> {
    let unfit = |problem: String| ConvertError::Unfit {
        type_name: ImageMessage::TYPE_NAME,
        schema: "foxglove.RawImage",
        problem,
    };
    let (encoding, bytes_per_pixel) =
        image_encoding(&image.encoding, &image.data).ok_or_else(|| {
            unfit(format!(
                "its encoding \"{}\" is not one Foxglove shows, and its {} data of shape {:?} \
                 does not say which it is; publish one of rgb8, rgba8, bgr8, bgra8, mono8, \
                 mono16, 16UC1, 32FC1, yuyv, uyvy, nv12, bayer_rggb8…",
                image.encoding,
                image.data.dtype(),
                image.data.shape()
            ))
        })?;
    let step = image.width.checked_mul(bytes_per_pixel);
    let needed = step.and_then(|step| {
        let luma = u64::from(step) * u64::from(image.height);
        Some(if encoding == "nv12" {
            luma.checked_mul(3)? / 2
        } else {
            luma
        })
    });
    let (Some(step), Some(needed)) = (step, needed) else {
        return Err(unfit(format!("its width {} is too large", image.width)));
    };
    let have = image.data.as_bytes().len() as u64;
    if have < needed {
        return Err(unfit(format!(
            "a {}×{} {encoding} image needs {needed} bytes of data but it holds {have}; \
             check width, height and encoding",
            image.width, image.height
        )));
    }
    Ok(RawImage {
        timestamp: Some(timestamp(header.timestamp_ns)),
        frame_id: String::new(),
        width: image.width,
        height: image.height,
        encoding: encoding.to_owned(),
        step,
        data: Bytes::copy_from_slice(image.data.as_bytes()),
    })
}

/// The elements of `array` as `f64`, in C order.
fn numbers(array: &DynArray) -> Vec<f64> {
    fn all<T: Copy>(slice: &[T], f: impl Fn(T) -> f64) -> Vec<f64> {
        slice.iter().map(|&v| f(v)).collect()
    }
    match array {
        DynArray::U8(a) => all(a.as_slice(), f64::from),
        DynArray::I8(a) => all(a.as_slice(), f64::from),
        DynArray::U16(a) => all(a.as_slice(), f64::from),
        DynArray::I16(a) => all(a.as_slice(), f64::from),
        DynArray::U32(a) => all(a.as_slice(), f64::from),
        DynArray::I32(a) => all(a.as_slice(), f64::from),
        DynArray::U64(a) => all(a.as_slice(), |v| v as f64),
        DynArray::I64(a) => all(a.as_slice(), |v| v as f64),
        DynArray::F32(a) => all(a.as_slice(), f64::from),
        DynArray::F64(a) => all(a.as_slice(), |v| v),
        DynArray::Bool(a) => all(a.as_slice(), |v| f64::from(u8::from(v))),
    }
}

/// A packed field of a point.
fn packed(name: &str, offset: u32, ty: NumericType) -> PackedElementField {
    PackedElementField {
        name: name.to_owned(),
        offset,
        r#type: ty as i32,
    }
}

fn identity_pose() -> Pose {
    Pose {
        position: Some(Vector3 {
            x: 0.0,
            y: 0.0,
            z: 0.0,
        }),
        orientation: Some(Quaternion {
            x: 0.0,
            y: 0.0,
            z: 0.0,
            w: 1.0,
        }),
    }
}

fn point_cloud(cloud: PointCloudMessage, header: &Header) -> Result<PointCloud, ConvertError> {
    let unfit = |problem: String| ConvertError::Unfit {
        type_name: PointCloudMessage::TYPE_NAME,
        schema: "foxglove.PointCloud",
        problem,
    };
    let n = match cloud.points.shape() {
        [n, 3] => *n,
        shape => {
            return Err(unfit(format!(
                "its points have shape {shape:?}; publish them as N × 3 (x, y, z per row)"
            )))
        }
    };
    let points = numbers(&cloud.points);
    let mut fields = vec![
        packed("x", 0, NumericType::Float32),
        packed("y", 4, NumericType::Float32),
        packed("z", 8, NumericType::Float32),
    ];
    let mut stride = 12;
    let colors = match &cloud.colors {
        None => None,
        Some(colors) => {
            let channels = match colors.shape() {
                [rows, c @ (3 | 4)] if *rows == n => *c,
                shape => {
                    return Err(unfit(format!(
                        "its colors have shape {shape:?}; publish them as {n} × 3 (RGB) or \
                         {n} × 4 (RGBA), one row per point"
                    )))
                }
            };
            for (i, name) in ["red", "green", "blue", "alpha"].into_iter().enumerate() {
                fields.push(packed(name, stride + i as u32, NumericType::Uint8));
            }
            stride += 4;
            let scale = if matches!(colors.dtype(), DType::F32 | DType::F64) {
                255.0
            } else {
                1.0
            };
            Some((numbers(colors), channels, scale))
        }
    };
    let intensity = match &cloud.intensity {
        None => None,
        Some(intensity) => {
            if !matches!(intensity.shape(), [rows] | [rows, 1] if *rows == n) {
                return Err(unfit(format!(
                    "its intensity has shape {:?}; publish {n} values, one per point",
                    intensity.shape()
                )));
            }
            fields.push(packed("intensity", stride, NumericType::Float32));
            stride += 4;
            Some(numbers(intensity))
        }
    };
    let mut data = Vec::with_capacity(n * stride as usize);
    for i in 0..n {
        for v in &points[3 * i..3 * i + 3] {
            data.extend_from_slice(&(*v as f32).to_le_bytes());
        }
        if let Some((colors, channels, scale)) = &colors {
            let row = &colors[channels * i..channels * (i + 1)];
            for c in 0..4 {
                let v = row.get(c).map_or(255.0, |v| (v * scale).round());
                data.push(v.clamp(0.0, 255.0) as u8);
            }
        }
        if let Some(intensity) = &intensity {
            data.extend_from_slice(&(intensity[i] as f32).to_le_bytes());
        }
    }
    Ok(PointCloud {
        timestamp: Some(timestamp(header.timestamp_ns)),
        frame_id: cloud.frame_id,
        pose: Some(identity_pose()),
        point_stride: stride,
        fields,
        data: data.into(),
    })
}

/// The `N` numbers of `array`, or what it should be.
fn exactly<const N: usize>(array: &DynArray, what: &str) -> Result<[f64; N], String> {
    let values = numbers(array);
    <[f64; N]>::try_from(values.as_slice()).map_err(|_| {
        format!(
            "its {what} has shape {:?}; it must hold {N} numbers",
            array.shape()
        )
    })
}

fn pose_in_frame(pose: PoseMessage, header: &Header) -> Result<PoseInFrame, ConvertError> {
    let unfit = |problem: String| ConvertError::Unfit {
        type_name: PoseMessage::TYPE_NAME,
        schema: "foxglove.PoseInFrame",
        problem,
    };
    let [x, y, z] = exactly::<3>(&pose.position, "position").map_err(unfit)?;
    let [qx, qy, qz, qw] =
        exactly::<4>(&pose.orientation, "orientation [x, y, z, w]").map_err(unfit)?;
    Ok(PoseInFrame {
        timestamp: Some(timestamp(header.timestamp_ns)),
        frame_id: pose.frame_id,
        pose: Some(Pose {
            position: Some(Vector3 { x, y, z }),
            orientation: Some(Quaternion {
                x: qx,
                y: qy,
                z: qz,
                w: qw,
            }),
        }),
    })
}

fn frame_transform(
    transform: TransformMessage,
    header: &Header,
) -> Result<FrameTransform, ConvertError> {
    let unfit = |problem: String| ConvertError::Unfit {
        type_name: TransformMessage::TYPE_NAME,
        schema: "foxglove.FrameTransform",
        problem,
    };
    if transform.matrix.shape() != [4, 4] {
        return Err(unfit(format!(
            "its matrix has shape {:?}; publish a 4 × 4 homogeneous matrix",
            transform.matrix.shape()
        )));
    }
    let matrix = exactly::<16>(&transform.matrix, "matrix").map_err(unfit)?;
    if !matrix.iter().all(|v| v.is_finite()) {
        return Err(unfit("its matrix holds NaN or infinity".into()));
    }
    let ([x, y, z], [qx, qy, qz, qw]) = rotation::split_transform(&matrix);
    Ok(FrameTransform {
        timestamp: Some(timestamp(header.timestamp_ns)),
        parent_frame_id: transform.frame_id,
        child_frame_id: transform.child_frame_id,
        translation: Some(Vector3 { x, y, z }),
        rotation: Some(Quaternion {
            x: qx,
            y: qy,
            z: qz,
            w: qw,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::foxglove::Decode;
    use cortex::messages::IntMessage;
    use cortex::NdArray;

    const STAMP: u64 = 1_700_000_000_123_456_789;

    fn frames<M: Message>(message: &M) -> Vec<Bytes> {
        message
            .encode_with_header(Header {
                fingerprint: M::FINGERPRINT,
                timestamp_ns: STAMP,
                sequence: 3,
            })
            .unwrap()
            .to_frames()
    }

    /// `message` through its mapping, decoded back as `F`.
    fn converted<M: Message, F: Decode>(message: &M) -> F {
        let mapping = Mapping::for_type(M::FINGERPRINT, M::TYPE_NAME, None);
        let mut out = Vec::new();
        let header = mapping.encode(&frames(message), &mut out).unwrap();
        assert_eq!(header.timestamp_ns, STAMP);
        F::decode(out.as_slice()).unwrap()
    }

    fn array<T: cortex::Element>(data: Vec<T>, shape: &[usize]) -> DynArray {
        NdArray::new(data, shape.to_vec()).unwrap().into()
    }

    #[test]
    fn an_image_becomes_a_raw_image() {
        let pixels: Vec<u8> = (0..24).collect();
        let image = ImageMessage {
            data: array(pixels.clone(), &[2, 4, 3]),
            encoding: "bgr8".into(),
            width: 4,
            height: 2,
        };
        let mapping = Mapping::for_type(ImageMessage::FINGERPRINT, ImageMessage::TYPE_NAME, None);
        assert_eq!(
            (
                mapping.schema_name(),
                mapping.schema_encoding(),
                mapping.message_encoding()
            ),
            ("foxglove.RawImage", "protobuf", "protobuf")
        );
        assert!(!mapping.schema_data().is_empty());
        let raw: RawImage = converted(&image);
        assert_eq!(
            raw.timestamp,
            Some(Timestamp::new(1_700_000_000, 123_456_789))
        );
        assert_eq!((raw.width, raw.height, raw.step), (4, 2, 12));
        assert_eq!(raw.encoding, "bgr8");
        assert_eq!(raw.frame_id, "");
        assert_eq!(raw.data.as_ref(), pixels.as_slice());
    }

    #[test]
    fn image_encodings_map_to_foxglove_names() {
        let rgb = array(vec![0u8; 12], &[2, 2, 3]);
        let depth = array(vec![0u16; 4], &[2, 2]);
        assert_eq!(image_encoding("rgb8", &rgb), Some(("rgb8", 3)));
        assert_eq!(image_encoding("RGB", &rgb), Some(("rgb8", 3)));
        assert_eq!(image_encoding("16UC1", &depth), Some(("16UC1", 2)));
        assert_eq!(image_encoding("gray16", &depth), Some(("mono16", 2)));
        // Unknown names are guessed from the array.
        assert_eq!(image_encoding("camera-native", &rgb), Some(("rgb8", 3)));
        assert_eq!(image_encoding("depth", &depth), Some(("mono16", 2)));
        assert_eq!(image_encoding("?", &array(vec![0i64; 4], &[2, 2])), None);
    }

    #[test]
    fn a_short_or_unknown_image_is_an_error_not_a_panic() {
        let mapping = Mapping::for_type(ImageMessage::FINGERPRINT, ImageMessage::TYPE_NAME, None);
        let short = ImageMessage {
            data: array(vec![0u8; 5], &[5]),
            encoding: "rgb8".into(),
            width: 4,
            height: 2,
        };
        let err = mapping
            .encode(&frames(&short), &mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("needs 24 bytes"), "{err}");
        let odd = ImageMessage {
            data: array(vec![0i64; 8], &[2, 4]),
            encoding: "weird".into(),
            width: 4,
            height: 2,
        };
        let err = mapping.encode(&frames(&odd), &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("publish one of rgb8"), "{err}");
        let huge = ImageMessage {
            width: u32::MAX,
            ..short
        };
        assert!(mapping.encode(&frames(&huge), &mut Vec::new()).is_err());
        // Frames of another type.
        let int = frames(&IntMessage { data: 1 });
        let err = mapping.encode(&int, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, ConvertError::Decode { .. }), "{err}");
        assert!(mapping.encode(&[], &mut Vec::new()).is_err());
    }

    #[test]
    fn a_point_cloud_is_packed_with_colours_and_intensity() {
        let cloud = PointCloudMessage {
            points: array(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]),
            colors: Some(array(vec![1.0f32, 0.5, 0.0, 0.0, 0.0, 1.0], &[2, 3])),
            intensity: Some(array(vec![7.0f32, 8.0], &[2])),
            normals: None,
            frame_id: "lidar".into(),
        };
        let pc: PointCloud = converted(&cloud);
        assert_eq!(pc.frame_id, "lidar");
        assert_eq!(pc.point_stride, 20);
        let names: Vec<(&str, u32)> = pc
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.offset))
            .collect();
        assert_eq!(
            names,
            [
                ("x", 0),
                ("y", 4),
                ("z", 8),
                ("red", 12),
                ("green", 13),
                ("blue", 14),
                ("alpha", 15),
                ("intensity", 16)
            ]
        );
        assert_eq!(pc.fields[3].r#type, NumericType::Uint8 as i32);
        assert_eq!(pc.data.len(), 40);
        let f32_at = |at: usize| f32::from_le_bytes(pc.data[at..at + 4].try_into().unwrap());
        assert_eq!((f32_at(20), f32_at(24), f32_at(28)), (4.0, 5.0, 6.0));
        assert_eq!(&pc.data[12..16], &[255, 128, 0, 255]);
        assert_eq!(&pc.data[32..36], &[0, 0, 255, 255]);
        assert_eq!((f32_at(16), f32_at(36)), (7.0, 8.0));
        let pose = pc.pose.unwrap();
        assert_eq!(pose.orientation.unwrap().w, 1.0);
    }

    #[test]
    fn a_bare_point_cloud_and_a_misshapen_one() {
        let bare = PointCloudMessage {
            points: array(vec![1.0f32, 2.0, 3.0], &[1, 3]),
            colors: None,
            intensity: None,
            normals: None,
            frame_id: String::new(),
        };
        let pc: PointCloud = converted(&bare);
        assert_eq!(
            (pc.point_stride, pc.fields.len(), pc.data.len()),
            (12, 3, 12)
        );
        let mapping = Mapping::for_type(PointCloudMessage::FINGERPRINT, "PointCloudMessage", None);
        let flat = PointCloudMessage {
            points: array(vec![1.0f32, 2.0, 3.0], &[3]),
            ..bare.clone()
        };
        let err = mapping.encode(&frames(&flat), &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("publish them as N × 3"), "{err}");
        let few_colours = PointCloudMessage {
            colors: Some(array(vec![1u8, 2, 3], &[1, 3])),
            points: array(vec![0.0f32; 6], &[2, 3]),
            ..bare
        };
        let err = mapping
            .encode(&frames(&few_colours), &mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("2 × 3 (RGB)"), "{err}");
    }

    #[test]
    fn a_pose_becomes_a_pose_in_frame() {
        let pose = PoseMessage {
            position: array(vec![1.0f64, 2.0, 3.0], &[3]),
            orientation: array(vec![0.0f32, 0.0, 1.0, 0.0], &[4]),
            frame_id: "map".into(),
            child_frame_id: "robot".into(),
        };
        let p: PoseInFrame = converted(&pose);
        assert_eq!(p.frame_id, "map");
        let inner = p.pose.unwrap();
        assert_eq!(
            inner.position,
            Some(Vector3 {
                x: 1.0,
                y: 2.0,
                z: 3.0
            })
        );
        assert_eq!(inner.orientation.map(|q| (q.z, q.w)), Some((1.0, 0.0)));
        let short = PoseMessage {
            position: array(vec![1.0f64, 2.0], &[2]),
            ..pose
        };
        let mapping = Mapping::for_type(PoseMessage::FINGERPRINT, "PoseMessage", None);
        let err = mapping
            .encode(&frames(&short), &mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("must hold 3 numbers"), "{err}");
    }

    #[test]
    fn a_transform_becomes_a_frame_transform() {
        #[rustfmt::skip]
        let matrix = vec![
            0.0f64, -1.0, 0.0, 1.0,
            1.0,     0.0, 0.0, 2.0,
            0.0,     0.0, 1.0, 3.0,
            0.0,     0.0, 0.0, 1.0,
        ];
        let transform = TransformMessage {
            matrix: array(matrix, &[4, 4]),
            frame_id: "world".into(),
            child_frame_id: "base".into(),
        };
        let t: FrameTransform = converted(&transform);
        assert_eq!(
            (t.parent_frame_id.as_str(), t.child_frame_id.as_str()),
            ("world", "base")
        );
        assert_eq!(
            t.translation,
            Some(Vector3 {
                x: 1.0,
                y: 2.0,
                z: 3.0
            })
        );
        let q = t.rotation.unwrap();
        let h = std::f64::consts::FRAC_1_SQRT_2;
        assert!((q.z - h).abs() < 1e-12 && (q.w - h).abs() < 1e-12, "{q:?}");
        let mapping = Mapping::for_type(TransformMessage::FINGERPRINT, "TransformMessage", None);
        let flat = TransformMessage {
            matrix: array(vec![0.0f64; 16], &[16]),
            ..transform
        };
        let err = mapping.encode(&frames(&flat), &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("4 × 4"), "{err}");
    }

    #[test]
    fn other_types_become_json_objects() {
        let mapping = Mapping::for_type(IntMessage::FINGERPRINT, IntMessage::TYPE_NAME, None);
        assert_eq!(
            (
                mapping.schema_name(),
                mapping.schema_encoding(),
                mapping.message_encoding()
            ),
            ("IntMessage", "jsonschema", "json")
        );
        let schema: serde_json::Value = serde_json::from_slice(mapping.schema_data()).unwrap();
        assert_eq!(schema["properties"]["data"]["type"], "integer");
        let mut out = Vec::new();
        let header = mapping
            .encode(&frames(&IntMessage { data: -5 }), &mut out)
            .unwrap();
        assert_eq!(header.sequence, 3);
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json, serde_json::json!({ "data": -5 }));
        // A type this tool does not know: fields by position.
        let unknown = Mapping::for_type(0x1234, "Custom", None);
        unknown
            .encode(&frames(&IntMessage { data: 9 }), &mut out)
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json, serde_json::json!({ "field0": 9 }));
        // One whose fields its publisher's node reported: by name.
        let reported = TypeLayout {
            type_name: "Custom".into(),
            fingerprint: 0x1234,
            fields: vec![("count".into(), "i64".into())],
        };
        let named = Mapping::for_type(0x1234, "Custom", Some(&reported));
        named
            .encode(&frames(&IntMessage { data: 9 }), &mut out)
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json, serde_json::json!({ "count": 9 }));
        let schema: serde_json::Value = serde_json::from_slice(named.schema_data()).unwrap();
        assert_eq!(schema["properties"]["count"]["type"], "integer");
        assert!(unknown
            .encode(&[Bytes::from_static(b"x")], &mut out)
            .is_err());
    }

    #[test]
    fn timestamps_split_into_seconds_and_nanoseconds() {
        assert_eq!(timestamp(STAMP), Timestamp::new(1_700_000_000, 123_456_789));
        assert_eq!(timestamp(u64::MAX), Timestamp::MAX);
    }
}
