//! Runtime description of a message type, for tools.

use std::fmt;

/// A message type's name, fingerprint and fields, in declaration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    /// The advertised type name.
    pub type_name: &'static str,
    /// The fingerprint this type sends.
    pub fingerprint: u64,
    /// A second fingerprint receivers accept, never sent (see
    /// [`Message::ALTERNATE_FINGERPRINT`](crate::Message::ALTERNATE_FINGERPRINT)).
    pub alternate_fingerprint: Option<u64>,
    /// The Python class this type is compatible with, if any.
    pub python_path: Option<&'static str>,
    /// The fields in wire order.
    pub fields: Vec<FieldSchema>,
}

impl Schema {
    /// Whether a header or discovery record carrying `fingerprint` is of
    /// this type (its fingerprint or its alternate).
    pub fn accepts(&self, fingerprint: u64) -> bool {
        self.fingerprint == fingerprint || self.alternate_fingerprint == Some(fingerprint)
    }

    /// The fields as (name, type) pairs, owned: how node reports carry a
    /// type's layout to tools.
    pub fn field_pairs(&self) -> Vec<(String, String)> {
        self.fields
            .iter()
            .map(|f| (f.name.to_owned(), f.ty.clone()))
            .collect()
    }
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
        if let Some(alt) = self.alternate_fingerprint {
            write!(f, " [also accepts 0x{alt:016x}]")?;
        }
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
