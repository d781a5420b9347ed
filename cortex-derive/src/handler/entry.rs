//! `#[cortex::main(name = "...", worker_threads = N, discovery = "...", logging = false)]`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

use super::args::{self, Arg, Opt};
use crate::ctxt::Ctxt;

const VALID: &str =
    "`name = \"node\"`, `worker_threads = N`, `discovery = \"ipc://...\"`, `logging = false`";

/// Expands the entry point. On errors, still emits a `main` that compiles
/// (with the errors) so IDEs keep working.
pub(crate) fn expand(attr: TokenStream, item: &syn::ItemFn) -> TokenStream {
    let mut cx = Ctxt::default();
    let mut name: Option<Opt<String>> = None;
    let mut threads: Option<Opt<u64>> = None;
    let mut discovery: Option<Opt<String>> = None;
    let mut logging: Option<Opt<bool>> = None;
    for arg in args::parse(&mut cx, attr) {
        match &arg {
            Arg::Value(k, v) if k == "name" => {
                if let Some(s) = args::string(&mut cx, k, v) {
                    if s.is_empty() || s.contains(['/', '\0']) || s.contains(char::is_whitespace) {
                        cx.error_spanned_by(v, "`name` must be non-empty, without `/` or whitespace (it is part of socket file names)");
                    }
                    args::set(&mut cx, &mut name, k, s);
                }
            }
            Arg::Value(k, v) if k == "worker_threads" => {
                if let Some(n) = args::positive_int(&mut cx, k, v) {
                    args::set(&mut cx, &mut threads, k, n);
                }
            }
            Arg::Value(k, v) if k == "discovery" => {
                if let Some(s) = args::string(&mut cx, k, v) {
                    if !(s.starts_with("ipc://") || s.starts_with("tcp://")) {
                        cx.error_spanned_by(
                            v,
                            "`discovery` must be an `ipc://` or `tcp://` address",
                        );
                    }
                    args::set(&mut cx, &mut discovery, k, s);
                }
            }
            Arg::Value(k, v) if k == "logging" => match &**v {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Bool(b),
                    ..
                }) => args::set(&mut cx, &mut logging, k, b.value),
                _ => cx.error_spanned_by(v, "`logging` takes `true` or `false`"),
            },
            other => args::unknown(&mut cx, other, "cortex::main", VALID),
        }
    }
    args::check_fn(&mut cx, item, "cortex::main");
    args::check_inputs(&mut cx, item, "cortex::main");
    // Whether there is an argument decides the form; its type is checked
    // by `__private::MainArg`, at its span (so an alias of `Node` works).
    let inputs: Vec<_> = args::typed_inputs(item).collect();
    let node_ty = match inputs.as_slice() {
        [] => None,
        [ty] => Some(*ty),
        _ => {
            cx.error_spanned_by(
                &item.sig.inputs,
                "#[cortex::main] takes no arguments (handlers run automatically) or one `node: Node`",
            );
            None
        }
    };
    let takes_node = node_ty.is_some();
    if !takes_node && !matches!(item.sig.output, syn::ReturnType::Default) {
        if let syn::ReturnType::Type(_, ty) = &item.sig.output {
            cx.error_spanned_by(
                ty,
                "without a `node: Node` argument, main returns nothing (the node runs after the body); \
                 take `node: Node` to return `cortex::Result<()>` and call `node.run().await` yourself",
            );
        }
    }

    let p = quote!(::cortex::__private);
    let opt_str = |o: &Option<Opt<String>>| match o {
        Some(o) => {
            let v = &o.value;
            quote!(::core::option::Option::Some(#v))
        }
        None => quote!(::core::option::Option::None),
    };
    let name_q = opt_str(&name);
    let discovery_q = opt_str(&discovery);
    let threads_q = match &threads {
        Some(t) => {
            let v = t.value as usize;
            quote!(::core::option::Option::Some(#v))
        }
        None => quote!(::core::option::Option::None),
    };
    let logging_q = logging.is_none_or(|l| l.value);
    let errors = cx.check().map(|e| e.to_compile_error());

    let mut user = item.clone();
    user.sig.ident = format_ident!("__cortex_user_main");
    // The attributes go on the generated `main` only, not twice.
    user.attrs.clear();
    let attrs = &item.attrs;
    let vis = &item.vis;
    let ident = &item.sig.ident;
    let into_result = args::into_result(item);
    let body = if let Some(ty) = node_ty {
        let (lo, hi) = args::ends(ty);
        let open = quote_spanned!(lo=> <);
        let close = quote_spanned!(lo=> as #p::MainArg>::);
        let call = quote_spanned!(hi=> from_node(__cortex_node));
        quote!(#into_result(__cortex_user_main(#open #ty #close #call).await))
    } else {
        quote! {
            #into_result(__cortex_user_main().await)?;
            __cortex_node.run().await.map_err(|e| ::std::string::ToString::to_string(&e))
        }
    };
    if let Some(errors) = errors {
        // Keep the user's function type-checked, but don't call it.
        return quote! {
            #errors
            #(#attrs)*
            #vis fn #ident() -> ::std::process::ExitCode {
                #[allow(dead_code)]
                #user
                ::std::process::ExitCode::FAILURE
            }
        };
    }
    quote! {
        #(#attrs)*
        #vis fn #ident() -> ::std::process::ExitCode {
            #user
            #p::run_main(
                #p::MainOptions {
                    name: #name_q,
                    worker_threads: #threads_q,
                    discovery: #discovery_q,
                    logging: #logging_q,
                },
                |__cortex_node: ::cortex::Node| async move { #body },
            )
        }
    }
}
