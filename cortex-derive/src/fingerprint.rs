//! Fingerprint arithmetic done at macro time (SHA-256).

use sha2::{Digest, Sha256};

/// The first 8 bytes of SHA-256(`s`), big-endian.
pub(crate) fn sha256_u64(s: &str) -> u64 {
    let digest = Sha256::digest(s.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The Python cortex rule: SHA-256 of
/// `"<module>.<qualname>|" + ",".join(sorted("name:type"))`, where the Python
/// class also lists its two `ClassVar` entries.
pub(crate) fn python(path: &str, fields: &[(String, String)]) -> (String, u64) {
    let mut entries: Vec<String> = fields.iter().map(|(n, t)| format!("{n}:{t}")).collect();
    entries.push("_field_names_cache:ClassVar".into());
    entries.push("_sequence_counter:ClassVar".into());
    entries.sort();
    let canonical = format!("{path}|{}", entries.join(","));
    let fp = sha256_u64(&canonical);
    (canonical, fp)
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

    #[test]
    fn python_rule_matches_the_python_cortex() {
        let (canonical, fp) = python(
            "cortex.messages.standard.ImageMessage",
            &[
                ("data".into(), "ndarray".into()),
                ("encoding".into(), "str".into()),
                ("width".into(), "int".into()),
                ("height".into(), "int".into()),
            ],
        );
        assert_eq!(
            canonical,
            "cortex.messages.standard.ImageMessage|_field_names_cache:ClassVar,_sequence_counter:ClassVar,data:ndarray,encoding:str,height:int,width:int"
        );
        assert_eq!(fp, 0x129bed330d214dbc);
    }
}
