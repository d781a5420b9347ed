//! `#[derive(Message)]`: parse → validate → generate.

mod ast;
mod attr;
mod expand;
mod python;

use proc_macro2::TokenStream;

use crate::ctxt::Ctxt;

/// Expands the derive; on errors, emits them plus stub impls so that uses of
/// the type elsewhere don't add a cascade of unrelated errors.
pub(crate) fn derive(input: &syn::DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let container = ast::Container::from_ast(&mut cx, input);
    let plan = container.and_then(|c| python::plan(&mut cx, c));
    match (cx.check(), plan) {
        (None, Some(plan)) => expand::expand(&plan),
        (err, _) => {
            let err = err.map(|e| e.to_compile_error());
            // A stub for a generic type would only add errors.
            let stub = input
                .generics
                .params
                .is_empty()
                .then(|| expand::stub(&input.ident));
            quote::quote!(#err #stub)
        }
    }
}
