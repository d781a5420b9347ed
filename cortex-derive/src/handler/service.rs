//! `#[service("/name", node = "name", publishes(TOPIC, ...))]`: an async
//! function `(request[, ctx]) -> Result<Reply, E>` answers calls.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

use super::args::{self, Arg};
use super::subscribe::{check_name, Common};
use crate::ctxt::Ctxt;

const VALID: &str = "\"/service/name\" (first), `node = \"name\"`, `publishes(TOPIC, ...)`";

pub(crate) fn expand(attr: TokenStream, item: &syn::ItemFn) -> Result<TokenStream, syn::Error> {
    let mut cx = Ctxt::default();
    let mut name: Option<String> = None;
    let mut common = Common::default();
    for arg in args::parse(&mut cx, attr) {
        match &arg {
            Arg::Positional(lit) if name.is_none() => {
                name = Some(check_name(&mut cx, lit, "service", "/arm/set_mode"))
            }
            Arg::Positional(lit) => {
                cx.error_spanned_by(lit, "a #[service] has one name");
            }
            other if common.take(&mut cx, other) => {}
            other => args::unknown(&mut cx, other, "service", VALID),
        }
    }
    if name.is_none() {
        cx.error_spanned_by(
            &item.sig.ident,
            "#[service] needs the service name: #[service(\"/arm/set_mode\")]",
        );
    }
    args::check_fn(&mut cx, item, "service");
    args::check_inputs(&mut cx, item, "service");
    let inputs: Vec<&syn::Type> = args::typed_inputs(item).collect();
    match inputs.as_slice() {
        [] => cx.error_spanned_by(
            &item.sig.ident,
            "a #[service] handler takes the request (a message) and optionally `cortex::Ctx`",
        ),
        [_] | [_, _] => {}
        [_, _, extra, ..] => cx.error_spanned_by(
            extra,
            "a #[service] handler takes the request and optionally `cortex::Ctx`, nothing else",
        ),
    }
    if let syn::ReturnType::Default = item.sig.output {
        cx.error_spanned_by(
            &item.sig.ident,
            "a #[service] handler returns its reply as a `Result`: `-> cortex::Result<Reply>`",
        );
    }
    if let Some(e) = cx.check() {
        return Err(e);
    }
    let (Some(name), Some(request)) = (name, inputs.first()) else {
        return Err(syn::Error::new(item.sig.ident.span(), "invalid #[service]"));
    };

    let p = quote!(::cortex::__private);
    let ident = &item.sig.ident;
    let run_fn = format_ident!("__cortex_run_{}", ident);
    // The second argument, if any, is checked by `__private::ServiceArg`.
    let ctx_arg = inputs.get(1).map(|ty| {
        let (lo, hi) = args::ends(ty);
        let open = quote_spanned!(lo=> <);
        let close = quote_spanned!(lo=> as #p::ServiceArg>::);
        let call = quote_spanned!(hi=> from_call(&__cortex_ctx));
        quote!(, #open #ty #close #call)
    });
    let runner = quote! {
        #p::run_service(__cortex_ctx_in, __cortex_run_in, |__cortex_req: #request, __cortex_ctx: ::cortex::Ctx| async move {
            #ident(__cortex_req #ctx_arg).await
        })
    };
    let kind = quote!(#p::HandlerKind::Service { name: #name, run: #run_fn });
    Ok(super::register(ident, &run_fn, &runner, &kind, &common))
}
