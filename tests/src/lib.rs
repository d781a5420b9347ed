//! Shared helpers for cortex's integration tests.
#![warn(missing_docs)]

use std::path::PathBuf;

/// The interop vectors captured from the Python cortex (a copy of
/// `shared/interop/` kept in `tests/data/interop/`).
pub fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/interop")
}

/// Parses one interop JSON file.
pub fn interop_json(name: &str) -> serde_json::Value {
    let path = interop_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}
