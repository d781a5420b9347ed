//! Choosing the fingerprint rule; the Python rule's type spellings.

use super::ast::Container;
use crate::ctxt::Ctxt;
use crate::fingerprint;

/// How the fingerprint is obtained.
pub(super) enum FingerprintRule {
    /// Known at macro time (explicit override).
    Fixed(u64),
    /// The Python rule: the fingerprint a Python cortex node sends, and the
    /// structural one receivers also accept.
    Python { wire: u64, structural: u64 },
    /// Native rule: this base, folded with each field type's hash in a const.
    Native(u64),
}

/// What to generate: the validated container.
pub(super) struct Plan<'a> {
    pub(super) ident: &'a syn::Ident,
    pub(super) type_name: String,
    pub(super) python_path: Option<String>,
    pub(super) rule: FingerprintRule,
    pub(super) fields: Vec<FieldPlan<'a>>,
}

/// One field to encode.
pub(super) struct FieldPlan<'a> {
    pub(super) ident: &'a syn::Ident,
    pub(super) name: String,
    pub(super) ty: &'a syn::Type,
    pub(super) serde: bool,
}

/// Validates the attribute combination and computes the fingerprint rule.
pub(super) fn plan<'a>(cx: &mut Ctxt, c: Container<'a>) -> Option<Plan<'a>> {
    let fields: Vec<FieldPlan<'a>> = c
        .fields
        .iter()
        .map(|f| FieldPlan {
            ident: f.ident,
            name: f.ident.to_string().trim_start_matches("r#").to_owned(),
            ty: f.ty,
            serde: f.attrs.serde.is_some(),
        })
        .collect();
    let mut type_name = c.ident.to_string();
    let mut python_path = None;
    let rule = if let Some(path) = &c.attrs.python {
        if !is_python_path(&path.value) {
            cx.syn_error(syn::Error::new(
                path.span,
                "`python` must be the class's dotted path, e.g. \"cortex.messages.standard.ImageMessage\"",
            ));
        }
        type_name = path.value.rsplit('.').next().unwrap_or_default().to_owned();
        python_path = Some(path.value.clone());
        let spelled: Vec<(String, String)> = c
            .fields
            .iter()
            .zip(&fields)
            .filter_map(|(f, p)| {
                let ty = match &f.attrs.python_type {
                    Some(t) => Some(t.value.clone()),
                    None => infer(f.ty),
                };
                if ty.is_none() {
                    cx.error_spanned_by(
                        f.ty,
                        format!(
                            "cannot infer the Python annotation of field `{}`, which the Python rule's structural \
                             fingerprint (also accepted from Python peers) needs; \
                             add #[cortex(python_type = \"...\")] with the annotation as written in the Python class",
                            p.name
                        ),
                    );
                }
                Some((p.name.clone(), ty?))
            })
            .collect();
        FingerprintRule::Python {
            wire: fingerprint::python_wire(&path.value),
            structural: fingerprint::python_structural(&path.value, &spelled),
        }
    } else {
        for f in &c.fields {
            if let Some(t) = &f.attrs.python_type {
                cx.syn_error(syn::Error::new(
                    t.span,
                    "`python_type` only matters with the Python fingerprint rule; add #[cortex(python = \"pkg.module.Class\")] to the struct or remove it",
                ));
            }
        }
        match &c.attrs.fingerprint {
            Some(fp) => FingerprintRule::Fixed(fp.value),
            None => {
                let names: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
                FingerprintRule::Native(fingerprint::native_base(&type_name, &names))
            }
        }
    };
    Some(Plan {
        ident: c.ident,
        type_name,
        python_path,
        rule,
        fields,
    })
}

fn is_python_path(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && chars.all(|c| c.is_alphanumeric() || c == '_')
        })
}

/// The Python annotation the Python cortex would write for a Rust type, when
/// there is an obvious one.
fn infer(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Array(a) if is_ident(&a.elem, "u8") => Some("bytes".into()),
        syn::Type::Path(p) => {
            let seg = p.path.segments.last()?;
            let arg = generic_arg(seg);
            Some(match seg.ident.to_string().as_str() {
                "bool" => "bool".into(),
                "i8" | "i16" | "i32" | "i64" | "isize" | "u8" | "u16" | "u32" | "u64" | "usize" => {
                    "int".into()
                }
                "f32" | "f64" => "float".into(),
                "String" => "str".into(),
                "NdArray" | "DynArray" => "ndarray".into(),
                "Vec" if arg.is_some_and(|t| is_ident(t, "u8")) => "bytes".into(),
                "Vec" => "list".into(),
                "IndexMap" | "HashMap" | "BTreeMap" => "dict".into(),
                "Option" => match arg.map(|t| (t, infer(t))) {
                    Some((_, Some(inner))) if inner == "ndarray" => "numpy.ndarray | None".into(),
                    Some((_, Some(inner))) => format!("{inner} | None"),
                    _ => return None,
                },
                _ => return None,
            })
        }
        _ => None,
    }
}

fn generic_arg(seg: &syn::PathSegment) -> Option<&syn::Type> {
    match &seg.arguments {
        syn::PathArguments::AngleBracketed(a) => a.args.iter().find_map(|arg| match arg {
            syn::GenericArgument::Type(t) => Some(t),
            _ => None,
        }),
        _ => None,
    }
}

fn is_ident(ty: &syn::Type, name: &str) -> bool {
    matches!(ty, syn::Type::Path(p) if p.path.is_ident(name))
}
