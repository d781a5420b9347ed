//! `#[subscribe("/topic", queue = N, node = "name", publishes(TOPIC, ...))]`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::args::{self, Arg, Opt};
use crate::ctxt::Ctxt;

const VALID: &str = "\"/topic\" (first), `queue = N`, `node = \"name\"`, `publishes(TOPIC, ...)`";

/// Shared options of handler macros.
#[derive(Default)]
pub(crate) struct Common {
    pub(crate) node: Option<Opt<String>>,
    pub(crate) publishes: Option<Opt<Vec<syn::Path>>>,
}

impl Common {
    /// Takes `node` and `publishes`; returns false for other keys.
    pub(crate) fn take(&mut self, cx: &mut Ctxt, arg: &Arg) -> bool {
        match arg {
            Arg::Value(k, v) if k == "node" => {
                if let Some(s) = args::string(cx, k, v) {
                    if s.is_empty() {
                        cx.error_spanned_by(v, "`node` must not be empty");
                    }
                    args::set(cx, &mut self.node, k, s);
                }
                true
            }
            Arg::List(k, paths) if k == "publishes" => {
                args::set(cx, &mut self.publishes, k, paths.iter().cloned().collect());
                true
            }
            _ => false,
        }
    }

    /// `node: Option<&str>` and the `advertise` function for the registration.
    pub(crate) fn expand(&self, ident: &syn::Ident) -> (TokenStream, TokenStream, TokenStream) {
        let p = quote!(::cortex::__private);
        let node = match &self.node {
            Some(n) => {
                let v = &n.value;
                quote!(::core::option::Option::Some(#v))
            }
            None => quote!(::core::option::Option::None),
        };
        let topics = self
            .publishes
            .as_ref()
            .map(|p| p.value.clone())
            .unwrap_or_default();
        if topics.is_empty() {
            return (node, quote!(#p::advertise_nothing), quote!());
        }
        let name = format_ident!("__cortex_advertise_{}", ident);
        let calls = topics
            .iter()
            .map(|t| quote_spanned!(t.span()=> __cortex_node.advertise(&#t).await?;));
        let def = quote! {
            #[doc(hidden)]
            #[allow(non_snake_case)]
            fn #name(__cortex_node: ::cortex::Node) -> #p::BoxFuture<::cortex::Result<()>> {
                ::std::boxed::Box::pin(async move {
                    #(#calls)*
                    ::core::result::Result::Ok(())
                })
            }
        };
        (node, quote!(#name), def)
    }
}

/// Checks a topic name: starts with `/`, no whitespace.
pub(crate) fn check_topic(cx: &mut Ctxt, lit: &syn::LitStr) -> String {
    check_name(cx, lit, "topic", "/sensor/camera")
}

/// Checks a topic or service name (`what`): starts with `/`, no whitespace.
pub(crate) fn check_name(cx: &mut Ctxt, lit: &syn::LitStr, what: &str, example: &str) -> String {
    let name = lit.value();
    if !name.starts_with('/') || name.len() < 2 {
        cx.error_spanned_by(
            lit,
            format!("{what} `{name}` must start with `/`, e.g. \"{example}\""),
        );
    } else if name.chars().any(char::is_whitespace) {
        cx.error_spanned_by(lit, format!("{what} `{name}` must not contain whitespace"));
    }
    name
}

pub(crate) fn expand(attr: TokenStream, item: &syn::ItemFn) -> Result<TokenStream, syn::Error> {
    let mut cx = Ctxt::default();
    let mut topic: Option<Opt<String>> = None;
    let mut queue: Option<Opt<u64>> = None;
    let mut common = Common::default();
    for arg in args::parse(&mut cx, attr.clone()) {
        match &arg {
            Arg::Positional(lit) if topic.is_none() => {
                let t = check_topic(&mut cx, lit);
                topic = Some(Opt {
                    value: t,
                    span: lit.span(),
                });
            }
            Arg::Positional(lit) => cx.error_spanned_by(lit, "#[subscribe] takes one topic"),
            Arg::Value(k, v) if k == "queue" => {
                if let Some(q) = args::positive_int(&mut cx, k, v) {
                    if q > i32::MAX as u64 {
                        cx.error_spanned_by(v, "`queue` is too large");
                    }
                    args::set(&mut cx, &mut queue, k, q);
                }
            }
            other if common.take(&mut cx, other) => {}
            other => args::unknown(&mut cx, other, "subscribe", VALID),
        }
    }
    if topic.is_none() {
        let span = if attr.is_empty() {
            item.sig.ident.span()
        } else {
            attr.span()
        };
        cx.syn_error(syn::Error::new(
            span,
            "#[subscribe] needs the topic first: #[subscribe(\"/sensor/camera\")]",
        ));
    }
    args::check_fn(&mut cx, item, "subscribe");
    args::check_inputs(&mut cx, item, "subscribe");
    for ty in args::typed_inputs(item) {
        if let syn::Type::Reference(_) = ty {
            cx.error_spanned_by(
                ty,
                "take arguments by value (`msg: T`, not `msg: &T`): each handler call owns its message",
            );
        }
    }
    if let Some(e) = cx.check() {
        return Err(e);
    }
    let Some(topic) = topic else {
        return Err(syn::Error::new(
            item.sig.ident.span(),
            "invalid #[subscribe]",
        ));
    };

    // What each argument is, is decided by the trait its type implements,
    // never by its name: `__private::arg` finds the kind and folds it in,
    // and `__private::message` takes the message type from the fold (see
    // `cortex::__private`). Each call is spanned at its argument (the first
    // token to the last), so a wrong one is underlined there.
    let p = quote!(::cortex::__private);
    let mut folds = Vec::new();
    let mut call_args = Vec::new();
    for (i, ty) in args::typed_inputs(item).enumerate() {
        let arg = format_ident!("__cortex_arg{}", i);
        let (lo, hi) = args::ends(ty);
        let path = quote_spanned!(lo=> ::cortex::__private::arg::<);
        let rest = quote_spanned!(hi=> , _, _>(__cortex_args));
        folds.push(quote!(let (#arg, __cortex_args) = #path #ty #rest;));
        let path = quote_spanned!(lo=> ::cortex::__private::extract);
        let rest = quote_spanned!(hi=> (&mut __cortex_delivery, #arg));
        call_args.push(quote!(#path #rest));
    }
    let parens = item.sig.paren_token.span.join();
    let message = quote_spanned!(parens=> ::cortex::__private::message(__cortex_args));

    let ident = &item.sig.ident;
    let run_fn = format_ident!("__cortex_run_{}", ident);
    let topic = topic.value;
    let queue = match queue {
        Some(q) => {
            let q = q.value as i32;
            quote!(::core::option::Option::Some(#q))
        }
        None => quote!(::core::option::Option::None),
    };
    let into_result = args::into_result(item);
    let runner = quote! {{
        let __cortex_args = #p::no_message();
        #(#folds)*
        let __cortex_message = #message;
        #p::run_subscriber(__cortex_ctx_in, __cortex_run_in, move |__cortex_msg, __cortex_header, __cortex_publisher, __cortex_ctx| async move {
            let mut __cortex_delivery = #p::Delivery::new(__cortex_message, __cortex_msg, __cortex_header, __cortex_publisher, __cortex_ctx);
            #into_result(#ident(#(#call_args),*).await)
        })
    }};
    let kind =
        quote!(#p::HandlerKind::Subscribe { topic: #topic, queue_depth: #queue, run: #run_fn });
    Ok(super::register(ident, &run_fn, &runner, &kind, &common))
}
