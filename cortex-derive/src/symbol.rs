//! Attribute names, in one place.

/// The attribute namespace: `#[cortex(...)]`.
pub(crate) const CORTEX: &str = "cortex";
/// Container: Python class path for the Python fingerprint rule.
pub(crate) const PYTHON: &str = "python";
/// Container: explicit fingerprint.
pub(crate) const FINGERPRINT: &str = "fingerprint";
/// Field: encode through serde.
pub(crate) const SERDE: &str = "serde";
/// Field: Python annotation for the Python rule.
pub(crate) const PYTHON_TYPE: &str = "python_type";

/// Valid container keys, for error messages.
pub(crate) const CONTAINER_KEYS: &str = "`python = \"pkg.module.Class\"`, `fingerprint = 0x...`";
/// Valid field keys, for error messages.
pub(crate) const FIELD_KEYS: &str = "`serde`, `python_type = \"...\"`";
