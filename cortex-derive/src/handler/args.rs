//! Parsing the options of `#[subscribe]`, `#[timer]` and `#[cortex::main]`:
//! a positional string (the topic) and `key = value` / `key(a, b)` options.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Ident, LitStr, Token};

use crate::ctxt::Ctxt;

/// One comma-separated option.
pub(crate) enum Arg {
    /// `"/topic"`
    Positional(LitStr),
    /// `key = value` (boxed: an expression is large, the other options
    /// small)
    Value(Ident, Box<syn::Expr>),
    /// `key(path, path)`
    List(Ident, Punctuated<syn::Path, Token![,]>),
    /// `key`
    Flag(Ident),
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(LitStr) {
            return Ok(Arg::Positional(input.parse()?));
        }
        let key: Ident = input.parse()?;
        if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Ok(Arg::Value(key, Box::new(input.parse()?)))
        } else if input.peek(syn::token::Paren) {
            let content;
            syn::parenthesized!(content in input);
            Ok(Arg::List(
                key,
                content.parse_terminated(syn::Path::parse_mod_style, Token![,])?,
            ))
        } else {
            Ok(Arg::Flag(key))
        }
    }
}

/// Parses the attribute's tokens; a syntax error is recorded and yields no options.
pub(crate) fn parse(cx: &mut Ctxt, tokens: proc_macro2::TokenStream) -> Vec<Arg> {
    match syn::parse::Parser::parse2(Punctuated::<Arg, Token![,]>::parse_terminated, tokens) {
        Ok(args) => args.into_iter().collect(),
        Err(e) => {
            cx.syn_error(e);
            Vec::new()
        }
    }
}

/// A value with where it came from.
pub(crate) struct Opt<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// Stores `value` unless `slot` is taken (then reports the duplicate).
pub(crate) fn set<T>(cx: &mut Ctxt, slot: &mut Option<Opt<T>>, key: &Ident, value: T) {
    if slot.is_some() {
        cx.error_spanned_by(key, format!("duplicate option `{key}`"));
    } else {
        *slot = Some(Opt {
            value,
            span: key.span(),
        });
    }
}

/// A string literal value.
pub(crate) fn string(cx: &mut Ctxt, key: &Ident, expr: &syn::Expr) -> Option<String> {
    match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => Some(s.value()),
        _ => {
            cx.error_spanned_by(
                expr,
                format!("`{key}` takes a string, e.g. {key} = \"...\""),
            );
            None
        }
    }
}

/// A positive integer literal value.
pub(crate) fn positive_int(cx: &mut Ctxt, key: &Ident, expr: &syn::Expr) -> Option<u64> {
    match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i),
            ..
        }) => match i.base10_parse::<u64>() {
            Ok(0) => {
                cx.error_spanned_by(expr, format!("`{key}` must be a positive integer"));
                None
            }
            Ok(v) => Some(v),
            // A literal that parses as an integer but not as a `u64`.
            Err(_) => {
                cx.error_spanned_by(expr, format!("`{key}` is too large"));
                None
            }
        },
        _ => {
            cx.error_spanned_by(
                expr,
                format!("`{key}` takes a positive integer, e.g. {key} = 10"),
            );
            None
        }
    }
}

/// A positive number (integer or float literal).
pub(crate) fn positive_number(cx: &mut Ctxt, key: &Ident, expr: &syn::Expr) -> Option<f64> {
    let value = match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i),
            ..
        }) => i.base10_parse::<f64>().ok(),
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Float(f),
            ..
        }) => f.base10_parse::<f64>().ok(),
        _ => None,
    };
    match value {
        Some(v) if v > 0.0 && v.is_finite() => Some(v),
        _ => {
            cx.error_spanned_by(
                expr,
                format!("`{key}` must be a positive number, e.g. {key} = 30"),
            );
            None
        }
    }
}

/// Reports an option this macro does not know, listing the valid ones.
pub(crate) fn unknown(cx: &mut Ctxt, arg: &Arg, macro_name: &str, valid: &str) {
    let (tokens, key) = match arg {
        Arg::Positional(s) => {
            cx.error_spanned_by(
                s,
                format!("unexpected string in #[{macro_name}]; valid options: {valid}"),
            );
            return;
        }
        Arg::Value(k, _) | Arg::List(k, _) | Arg::Flag(k) => (k.span(), k.to_string()),
    };
    cx.syn_error(syn::Error::new(
        tokens,
        format!("unknown option `{key}` for #[{macro_name}]; valid options: {valid}"),
    ));
}

/// Common checks of the annotated function: async, not generic, no `self`.
pub(crate) fn check_fn(cx: &mut Ctxt, f: &syn::ItemFn, macro_name: &str) {
    if f.sig.asyncness.is_none() {
        cx.error_spanned_by(
            f.sig.fn_token,
            format!(
                "#[{macro_name}] functions must be async: write `async fn {}(...)`",
                f.sig.ident
            ),
        );
    }
    if !f.sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &f.sig.generics,
            format!("#[{macro_name}] functions cannot be generic"),
        );
    }
    if let Some(receiver) = f.sig.receiver() {
        cx.error_spanned_by(
            receiver,
            format!("#[{macro_name}] must be on a free function, not a method"),
        );
    }
    if let Some(v) = &f.sig.variadic {
        cx.error_spanned_by(v, format!("#[{macro_name}] functions cannot be variadic"));
    }
}

/// The types of the function's arguments (`self` is reported by [`check_fn`]).
pub(crate) fn typed_inputs(f: &syn::ItemFn) -> impl Iterator<Item = &syn::Type> {
    f.sig.inputs.iter().filter_map(|input| match input {
        syn::FnArg::Typed(pat) => Some(&*pat.ty),
        syn::FnArg::Receiver(_) => None,
    })
}

/// Checks of the arguments that need no types: `impl Trait` is generic.
/// What an argument *is* is left to the traits in `cortex::__private`.
pub(crate) fn check_inputs(cx: &mut Ctxt, f: &syn::ItemFn, macro_name: &str) {
    for ty in typed_inputs(f) {
        if let syn::Type::ImplTrait(_) = ty {
            cx.error_spanned_by(
                ty,
                format!("#[{macro_name}] functions cannot be generic: name the argument's type"),
            );
        }
    }
}

/// The spans of a type's first and last tokens. Generated code that starts
/// with the first and ends with the last is underlined from one to the
/// other, i.e. exactly where the type is written (a single joined span is
/// not available to proc macros on stable).
pub(crate) fn ends(ty: &syn::Type) -> (Span, Span) {
    let mut tokens = quote::ToTokens::to_token_stream(ty).into_iter();
    let first = tokens.next().map_or_else(Span::call_site, |t| t.span());
    let last = tokens.last().map_or(first, |t| t.span());
    (first, last)
}

/// `<Ret as HandlerOutput>::into_handler_result`, spanned at the declared
/// return type so a wrong one is reported there, once.
pub(crate) fn into_result(f: &syn::ItemFn) -> proc_macro2::TokenStream {
    let p = quote::quote!(::cortex::__private);
    match &f.sig.output {
        syn::ReturnType::Type(_, ty) => {
            quote::quote_spanned!(ty.span()=> <#ty as #p::HandlerOutput>::into_handler_result)
        }
        syn::ReturnType::Default => quote::quote!(<() as #p::HandlerOutput>::into_handler_result),
    }
}
