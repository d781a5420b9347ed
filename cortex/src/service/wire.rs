//! The frames of a service call.
//!
//! The caller's DEALER sends `[id, kind, ...]`; the server's ROUTER sees the
//! caller's routing id in front and puts it back on the reply:
//!
//! | request | frames after `id` (8 bytes, big-endian) |
//! |---|---|
//! | call | `"call"`, the request's header, metadata and array frames |
//! | describe | `"describe"` |
//!
//! | reply | frames after `id` |
//! |---|---|
//! | the reply | `"ok"`, the reply's header, metadata and array frames |
//! | describe | `"ok"`, one JSON frame: the request and reply schemas |
//! | handler failed | `"failed"`, the handler's error (UTF-8) |
//! | refused | `"refused"`, why the request was not handled (UTF-8) |
//!
//! Headers are the topic messages' 24-byte headers: the fingerprint of the
//! request (or reply) type, a timestamp, and the caller's call number.

use sha2::{Digest, Sha256};

/// Request kind: a call.
pub const CALL: &[u8] = b"call";
/// Request kind: describe the service's types. The reply's one frame is
/// JSON: `{"request": S, "reply": S}` with `S` =
/// `{"type": name, "fingerprint": u64, "fields": [{"name", "type"}, ...]}`.
pub const DESCRIBE: &[u8] = b"describe";

/// Reply status: the reply (or the description) follows.
pub const OK: &[u8] = b"ok";
/// Reply status: the handler failed; its error text follows.
pub const FAILED: &[u8] = b"failed";
/// Reply status: the call was not handled (undecodable, another type);
/// why follows.
pub const REFUSED: &[u8] = b"refused";

/// The fingerprint of a service record: the first 8 bytes (big-endian) of
/// SHA-256 over `"cortex.service\0"`, the request type's fingerprint and
/// the reply type's (each big-endian). Equal records mean equal types both
/// ways.
pub fn service_fingerprint(request: u64, reply: u64) -> u64 {
    let mut hash = Sha256::new();
    hash.update(b"cortex.service\0");
    hash.update(request.to_be_bytes());
    hash.update(reply.to_be_bytes());
    let digest = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// A call id as its frame.
pub fn id_frame(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

/// A call id from its frame.
pub fn id_of(frame: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(frame.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_tells_the_direction_apart() {
        assert_ne!(service_fingerprint(1, 2), service_fingerprint(2, 1));
        assert_eq!(service_fingerprint(1, 2), service_fingerprint(1, 2));
        assert_eq!(id_of(&id_frame(7)), Some(7));
        assert_eq!(id_of(b"short"), None);
    }
}
