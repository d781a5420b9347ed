//! The wire descriptor of an array field: the metadata map
//! `{"__cortex_oob__": "numpy", "buffer": i, "dtype": "<f4", "shape": [..]}`
//! that points at the array's out-of-band frame.

use bytes::Bytes;

use super::{DType, DynArray};
use crate::codec::{
    DecodeErrorKind, DecodeErrorKind as K, Decoder, EncodeError, Encoder, MAX_PREALLOC, OOB_KEY,
};

/// A parsed `{"__cortex_oob__": "numpy", ...}` descriptor with its frame,
/// size-checked against the shape.
pub(super) struct ArrayDesc {
    pub(super) buffer: Bytes,
    pub(super) dtype: DType,
    pub(super) shape: Vec<usize>,
}

const OOB_KEY_BYTES: &[u8] = OOB_KEY.as_bytes();

pub(super) fn write_desc(
    enc: &mut Encoder,
    dtype: DType,
    shape: &[usize],
    data: Bytes,
) -> Result<(), EncodeError> {
    let index = enc.push_oob(data);
    enc.write_map_len(4)?;
    enc.write_str(OOB_KEY)?;
    enc.write_str("numpy")?;
    enc.write_str("buffer")?;
    enc.write_u64(index as u64);
    enc.write_str("dtype")?;
    enc.write_str(dtype.as_str())?;
    enc.write_str("shape")?;
    enc.write_array_len(shape.len())?;
    for d in shape {
        enc.write_u64(*d as u64);
    }
    Ok(())
}

pub(super) fn read_desc(dec: &mut Decoder<'_>) -> Result<ArrayDesc, DecodeErrorKind> {
    let (mut kind, mut index, mut dtype, mut shape) = (None, None, None, None);
    dec.read_map_by_key(|key, dec| {
        match key {
            OOB_KEY_BYTES => kind = Some(dec.read_str()?),
            b"buffer" => index = Some(dec.read_int()?.convert::<u64>("u64")?),
            b"dtype" => dtype = Some(dec.read_str()?),
            b"shape" => {
                let n = dec.read_array_len()?;
                let mut dims = Vec::with_capacity(n.min(MAX_PREALLOC));
                for _ in 0..n {
                    dims.push(dec.read_int()?.convert::<u64>("u64")?);
                }
                shape = Some(dims);
            }
            _ => dec.skip_value()?,
        }
        Ok::<(), DecodeErrorKind>(())
    })?;
    // `let ... else` rather than `ok_or(K::...)`: on this per-message path
    // an eagerly built error value is built and dropped for nothing.
    let Some(kind) = kind else {
        return Err(K::MissingKey(OOB_KEY));
    };
    if kind != "numpy" {
        return Err(K::UnknownOobKind(kind.into()));
    }
    let Some(index) = index else {
        return Err(K::MissingKey("buffer"));
    };
    let Some(dtype_str) = dtype else {
        return Err(K::MissingKey("dtype"));
    };
    let dtype = DType::parse(dtype_str).ok_or_else(|| K::UnknownDtype(dtype_str.into()))?;
    let Some(raw_shape) = shape else {
        return Err(K::MissingKey("shape"));
    };
    let overflow = || K::ShapeOverflow {
        shape: raw_shape.clone(),
        itemsize: dtype.itemsize(),
    };
    let shape = raw_shape
        .iter()
        .map(|d| usize::try_from(*d))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| overflow())?;
    let expected = shape
        .iter()
        .try_fold(dtype.itemsize(), |acc, d| acc.checked_mul(*d))
        .ok_or_else(overflow)?;
    let buffer = dec.oob(index)?;
    if buffer.len() != expected {
        return Err(K::BufferSize {
            shape,
            dtype: dtype.as_str(),
            expected,
            actual: buffer.len(),
        });
    }
    Ok(ArrayDesc {
        buffer,
        dtype,
        shape,
    })
}

/// Reads an array descriptor of any dtype.
pub(crate) fn read_dyn(dec: &mut Decoder<'_>) -> Result<DynArray, DecodeErrorKind> {
    DynArray::from_desc(read_desc(dec)?)
}
