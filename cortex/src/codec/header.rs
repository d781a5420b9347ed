//! The 24-byte message header.

use std::time::{SystemTime, UNIX_EPOCH};

use super::error::DecodeError;

/// The header every message carries: which type, when, and which in sequence.
///
/// On the wire: `fingerprint u64 · timestamp_ns u64 · sequence u64`, big-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Header {
    /// The message type's 64-bit fingerprint.
    pub fingerprint: u64,
    /// Wall-clock nanoseconds since the Unix epoch at publish time.
    pub timestamp_ns: u64,
    /// Per-publisher sequence number, from 0, +1 per publish.
    pub sequence: u64,
}

impl Header {
    /// Encoded length in bytes.
    pub const LEN: usize = 24;

    /// A header stamped with the current wall-clock time.
    pub fn now(fingerprint: u64, sequence: u64) -> Self {
        let timestamp_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Header {
            fingerprint,
            timestamp_ns,
            sequence,
        }
    }

    /// The 24 wire bytes.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..8].copy_from_slice(&self.fingerprint.to_be_bytes());
        out[8..16].copy_from_slice(&self.timestamp_ns.to_be_bytes());
        out[16..].copy_from_slice(&self.sequence.to_be_bytes());
        out
    }

    /// Parses the 24 wire bytes; any other length is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let b: &[u8; Self::LEN] = bytes
            .try_into()
            .map_err(|_| DecodeError::HeaderLength { len: bytes.len() })?;
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i * 8..i * 8 + 8]);
            u64::from_be_bytes(w)
        };
        Ok(Header {
            fingerprint: word(0),
            timestamp_ns: word(1),
            sequence: word(2),
        })
    }
}
