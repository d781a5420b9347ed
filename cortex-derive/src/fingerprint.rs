//! Fingerprint arithmetic done at macro time (SHA-256).

use sha2::{Digest, Sha256};

/// The first 8 bytes of SHA-256(`s`), big-endian.
pub(crate) fn sha256_u64(s: &str) -> u64 {
    let digest = Sha256::digest(s.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The two `ClassVar` entries every Python cortex message class carries in
/// its annotations (inherited from `Message`), sorted in with the fields.
const PYTHON_CLASSVARS: [&str; 2] = ["_field_names_cache:ClassVar", "_sequence_counter:ClassVar"];

/// The fingerprint a Python cortex node really sends for the class at
/// `path`: `Message.__init_subclass__` caches it before `@dataclass` has
/// added the subclass's fields, so only the path and the two inherited
/// `ClassVar` entries enter.
pub(crate) fn python_wire(path: &str) -> u64 {
    sha256_u64(&format!("{path}|{}", PYTHON_CLASSVARS.join(",")))
}

/// What `compute_fingerprint()` gives on the finished Python class:
/// `"<module>.<qualname>|" + ",".join(sorted("name:type"))`, the two
/// `ClassVar` entries sorted in. No Python peer sends it today; cortex
/// accepts it so that a Python cortex that fixes its caching still talks
/// to Rust.
pub(crate) fn python_structural(path: &str, fields: &[(String, String)]) -> u64 {
    let mut entries: Vec<String> = fields.iter().map(|(n, t)| format!("{n}:{t}")).collect();
    entries.extend(PYTHON_CLASSVARS.map(String::from));
    entries.sort();
    sha256_u64(&format!("{path}|{}", entries.join(",")))
}

/// The native rule's macro-time part: type name and field names in
/// declaration order. Field types are folded in by a `const` in the
/// generated code (see `cortex::message::fingerprint`).
pub(crate) fn native_base(type_name: &str, field_names: &[String]) -> u64 {
    sha256_u64(&format!(
        "cortex.native.v1|{type_name}|{}",
        field_names.join(",")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The ImageMessage values of `tests/data/interop/standard_messages.json`;
    // the integration tests check every class against the vectors.
    #[test]
    fn python_wire_rule_ignores_fields() {
        assert_eq!(
            python_wire("cortex.messages.standard.ImageMessage"),
            0xa51d_d7f8_9094_2cad
        );
    }

    #[test]
    fn python_structural_rule_sorts_fields_in() {
        let fields = [
            ("data", "ndarray"),
            ("encoding", "str"),
            ("width", "int"),
            ("height", "int"),
        ]
        .map(|(n, t)| (n.to_owned(), t.to_owned()));
        assert_eq!(
            python_structural("cortex.messages.standard.ImageMessage", &fields),
            0x129b_ed33_0d21_4dbc
        );
    }
}
