//! Runtime description of a message type, for tools.

use std::fmt;

/// A message type's name, fingerprint and fields, in declaration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    /// The advertised type name.
    pub type_name: &'static str,
    /// The fingerprint.
    pub fingerprint: u64,
    /// The Python class this type is compatible with, if any.
    pub python_path: Option<&'static str>,
    /// The fields in wire order.
    pub fields: Vec<FieldSchema>,
}

/// One field of a [`Schema`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSchema {
    /// The field name.
    pub name: &'static str,
    /// The field's type as tools print it.
    pub ty: String,
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:016x})", self.type_name, self.fingerprint)?;
        if let Some(p) = self.python_path {
            write!(f, " [python: {p}]")?;
        }
        writeln!(f, " {{")?;
        for field in &self.fields {
            writeln!(f, "    {}: {},", field.name, field.ty)?;
        }
        write!(f, "}}")
    }
}
