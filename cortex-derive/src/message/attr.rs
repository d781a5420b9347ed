//! Parsing `#[cortex(...)]` attributes; repeats and unknown keys are errors.

use syn::spanned::Spanned;

use crate::ctxt::Ctxt;
use crate::symbol::*;

/// A value with the token it came from (for error spans).
pub(super) struct WithSpan<T> {
    pub(super) value: T,
    pub(super) span: proc_macro2::Span,
}

/// Container options.
#[derive(Default)]
pub(super) struct ContainerAttrs {
    pub(super) python: Option<WithSpan<String>>,
    pub(super) fingerprint: Option<WithSpan<u64>>,
}

/// Field options.
#[derive(Default)]
pub(super) struct FieldAttrs {
    pub(super) serde: Option<proc_macro2::Span>,
    pub(super) python_type: Option<WithSpan<String>>,
}

fn set<T>(cx: &mut Ctxt, slot: &mut Option<T>, value: T, path: &syn::Path, name: &str) {
    if slot.is_some() {
        cx.error_spanned_by(path, format!("duplicate cortex attribute `{name}`"));
    } else {
        *slot = Some(value);
    }
}

fn lit_str(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<WithSpan<String>> {
    let lit: syn::LitStr = meta.value()?.parse()?;
    Ok(WithSpan {
        value: lit.value(),
        span: lit.span(),
    })
}

impl ContainerAttrs {
    pub(super) fn parse(cx: &mut Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut out = ContainerAttrs::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident(CORTEX)) {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident(PYTHON) {
                    let v = lit_str(&meta)?;
                    set(cx, &mut out.python, v, &meta.path, PYTHON);
                } else if meta.path.is_ident(FINGERPRINT) {
                    let lit: syn::LitInt = meta.value()?.parse()?;
                    let value = lit.base10_parse::<u64>()?;
                    let v = WithSpan {
                        value,
                        span: lit.span(),
                    };
                    set(cx, &mut out.fingerprint, v, &meta.path, FINGERPRINT);
                } else {
                    let key = meta.path.to_token_stream_string();
                    cx.error_spanned_by(
                        &meta.path,
                        format!("unknown cortex attribute `{key}` on a message type; expected one of {CONTAINER_KEYS}"),
                    );
                    skip_value(&meta)?;
                }
                Ok(())
            });
            if let Err(e) = result {
                cx.syn_error(e);
            }
        }
        out
    }
}

impl FieldAttrs {
    pub(super) fn parse(cx: &mut Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut out = FieldAttrs::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident(CORTEX)) {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident(SERDE) {
                    set(cx, &mut out.serde, meta.path.span(), &meta.path, SERDE);
                } else if meta.path.is_ident(PYTHON_TYPE) {
                    let v = lit_str(&meta)?;
                    set(cx, &mut out.python_type, v, &meta.path, PYTHON_TYPE);
                } else {
                    let key = meta.path.to_token_stream_string();
                    cx.error_spanned_by(
                        &meta.path,
                        format!("unknown cortex attribute `{key}` on a field; expected one of {FIELD_KEYS}"),
                    );
                    skip_value(&meta)?;
                }
                Ok(())
            });
            if let Err(e) = result {
                cx.syn_error(e);
            }
        }
        out
    }
}

/// Consumes `= value` or `(...)` after an unknown key so parsing can go on.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        let _: syn::Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in meta.input);
    }
    Ok(())
}

trait PathString {
    fn to_token_stream_string(&self) -> String;
}

impl PathString for syn::Path {
    fn to_token_stream_string(&self) -> String {
        quote::ToTokens::to_token_stream(self)
            .to_string()
            .replace(' ', "")
    }
}
