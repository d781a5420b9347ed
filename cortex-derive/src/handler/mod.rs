//! `#[subscribe]`, `#[timer]`, `#[service]` and `#[cortex::main]`.
//!
//! Each keeps the user's function as written, validates it and its options
//! (all errors at once, at the offending token), and adds a registration
//! that `inventory` collects for `Node::run`.

pub(crate) mod args;
pub(crate) mod entry;
pub(crate) mod service;
pub(crate) mod subscribe;
pub(crate) mod timer;

use proc_macro2::TokenStream;
use quote::quote;

/// Emits the user's function plus either the generated code or the errors,
/// so the function still exists for IDEs and other code when options are wrong.
pub(crate) fn finish(item: &syn::ItemFn, result: Result<TokenStream, syn::Error>) -> TokenStream {
    match result {
        Ok(generated) => quote!(#item #generated),
        Err(e) => {
            let e = e.to_compile_error();
            quote!(#item #e)
        }
    }
}

/// The code both handler macros generate around their runner: the run
/// function, the `publishes(...)` advertiser, and the `inventory` entry.
pub(crate) fn register(
    ident: &syn::Ident,
    run_fn: &syn::Ident,
    runner: &TokenStream,
    kind: &TokenStream,
    common: &subscribe::Common,
) -> TokenStream {
    let p = quote!(::cortex::__private);
    let (node, advertise, advertise_def) = common.expand(ident);
    let name = ident.to_string();
    quote! {
        #[doc(hidden)]
        #[allow(non_snake_case, unused_variables)]
        fn #run_fn(__cortex_ctx_in: ::cortex::Ctx, __cortex_run_in: #p::Run) -> #p::BoxFuture<::cortex::Result<()>> {
            ::std::boxed::Box::pin(#runner)
        }
        #advertise_def
        #p::inventory::submit! {
            #p::Handler {
                node: #node,
                name: ::core::concat!(::core::module_path!(), "::", #name),
                kind: #kind,
                advertise: #advertise,
            }
        }
    }
}
