//! The derive input, checked into a struct with named fields.

use super::attr::{ContainerAttrs, FieldAttrs};
use crate::ctxt::Ctxt;

/// A message struct.
pub(super) struct Container<'a> {
    pub(super) ident: &'a syn::Ident,
    pub(super) attrs: ContainerAttrs,
    pub(super) fields: Vec<Field<'a>>,
}

/// One named field.
pub(super) struct Field<'a> {
    pub(super) ident: &'a syn::Ident,
    pub(super) ty: &'a syn::Type,
    pub(super) attrs: FieldAttrs,
}

impl<'a> Container<'a> {
    /// Parses and validates the input; records every problem in `cx`.
    pub(super) fn from_ast(cx: &mut Ctxt, input: &'a syn::DeriveInput) -> Option<Self> {
        let attrs = ContainerAttrs::parse(cx, &input.attrs);
        if !input.generics.params.is_empty() {
            cx.error_spanned_by(
                &input.generics,
                "a message type cannot be generic: its fingerprint must be one fixed value; \
                 define one struct per concrete type",
            );
        }
        let named = match &input.data {
            syn::Data::Struct(s) => match &s.fields {
                syn::Fields::Named(named) => Some(named),
                syn::Fields::Unnamed(f) => {
                    cx.error_spanned_by(
                        f,
                        "derive(Message) needs named fields (field names are part of the schema and fingerprint); \
                         write `struct Name { field: Type }`",
                    );
                    None
                }
                syn::Fields::Unit => {
                    cx.error_spanned_by(
                        input,
                        "derive(Message) needs named fields; for a message without data write `struct Name {}`",
                    );
                    None
                }
            },
            syn::Data::Enum(e) => {
                cx.error_spanned_by(
                    e.enum_token,
                    "derive(Message) supports structs only; wrap the enum in a struct field marked `#[cortex(serde)]`",
                );
                None
            }
            syn::Data::Union(u) => {
                cx.error_spanned_by(
                    u.union_token,
                    "derive(Message) supports structs only, not unions",
                );
                None
            }
        };
        let fields = named.map(|named| {
            named
                .named
                .iter()
                .filter_map(|f| {
                    let attrs = FieldAttrs::parse(cx, &f.attrs);
                    if attrs.serde.is_none() {
                        check_type(cx, &f.ty);
                    }
                    Some(Field {
                        ident: f.ident.as_ref()?,
                        ty: &f.ty,
                        attrs,
                    })
                })
                .collect()
        });
        if let (Some(python), Some(_)) = (&attrs.python, &attrs.fingerprint) {
            cx.syn_error(syn::Error::new(
                python.span,
                "`python` and `fingerprint` both set the fingerprint; keep one",
            ));
        }
        Some(Container {
            ident: &input.ident,
            attrs,
            fields: fields?,
        })
    }
}

/// Rejects field types that can never come off the network, with what to use
/// instead. Other unsupported types are caught by the `Field` trait bound,
/// spanned at the type.
fn check_type(cx: &mut Ctxt, ty: &syn::Type) {
    match ty {
        syn::Type::Reference(r) => {
            let hint = match &*r.elem {
                syn::Type::Path(p) if p.path.is_ident("str") => "String",
                syn::Type::Slice(_) => "Vec<T> or NdArray<T>",
                _ => "an owned type",
            };
            cx.error_spanned_by(
                ty,
                format!("a message field cannot be a reference: received messages own their data; use {hint}"),
            );
        }
        syn::Type::Ptr(_) => cx.error_spanned_by(ty, "a message field cannot be a raw pointer"),
        syn::Type::Tuple(t) if !t.elems.is_empty() => cx.error_spanned_by(
            ty,
            "tuples are not message fields; use a nested #[derive(Message)] struct or `[T; N]`",
        ),
        syn::Type::Slice(_) => cx.error_spanned_by(
            ty,
            "unsized slices are not message fields; use Vec<T> or NdArray<T>",
        ),
        syn::Type::TraitObject(_) | syn::Type::ImplTrait(_) => cx.error_spanned_by(
            ty,
            "trait objects are not message fields; use a concrete type",
        ),
        syn::Type::Path(p) if p.path.is_ident("char") => {
            cx.error_spanned_by(ty, "`char` is not a message field type; use String or u32")
        }
        syn::Type::Path(p) if p.path.is_ident("i128") || p.path.is_ident("u128") => cx
            .error_spanned_by(
                ty,
                "128-bit integers do not fit msgpack; use i64/u64 or `[u64; 2]`",
            ),
        _ => {}
    }
}
