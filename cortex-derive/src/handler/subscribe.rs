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
    let topic = lit.value();
    if !topic.starts_with('/') || topic.len() < 2 {
        cx.error_spanned_by(
            lit,
            format!("topic `{topic}` must start with `/`, e.g. \"/sensor/camera\""),
        );
    } else if topic.chars().any(char::is_whitespace) {
        cx.error_spanned_by(lit, format!("topic `{topic}` must not contain whitespace"));
    }
    topic
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

    // Arguments are picked by type: the message (by value), `Header`, `Ctx`.
    let mut message: Option<&syn::Type> = None;
    let (mut seen_header, mut seen_ctx, mut seen_reference) = (false, false, false);
    let mut call_args = Vec::new();
    for input in &item.sig.inputs {
        let syn::FnArg::Typed(pat) = input else {
            continue;
        };
        let ty = &*pat.ty;
        match args::type_name(ty).as_deref() {
            Some("Header") if !seen_header => {
                seen_header = true;
                call_args.push(quote_spanned!(ty.span()=> __cortex_header));
            }
            Some("Ctx") if !seen_ctx => {
                seen_ctx = true;
                call_args.push(quote_spanned!(ty.span()=> __cortex_ctx));
            }
            Some("Header") | Some("Ctx") => cx.error_spanned_by(ty, "this argument appears twice"),
            _ if matches!(ty, syn::Type::Reference(_)) => {
                seen_reference = true;
                cx.error_spanned_by(
                    ty,
                    "take the message by value (`msg: T`): each handler call owns its message",
                );
            }
            _ => match message {
                None => {
                    message = Some(ty);
                    call_args.push(quote_spanned!(ty.span()=> __cortex_msg));
                }
                Some(first) => cx.error_spanned_by(
                    ty,
                    format!(
                        "a #[subscribe] handler receives one message type, but `{}` is already the message; \
                         the other arguments may be `Header` and `Ctx`",
                        quote!(#first)
                    ),
                ),
            },
        }
    }
    if message.is_none() && !seen_reference {
        cx.error_spanned_by(
            &item.sig,
            "a #[subscribe] handler needs the message as an argument, e.g. `async fn on_image(img: Image)`",
        );
    }
    if let Some(e) = cx.check() {
        return Err(e);
    }
    let (Some(topic), Some(msg_ty)) = (topic, message) else {
        return Err(syn::Error::new(
            item.sig.ident.span(),
            "invalid #[subscribe]",
        ));
    };

    let p = quote!(::cortex::__private);
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
    let run_subscriber = quote_spanned!(msg_ty.span()=> #p::run_subscriber::<#msg_ty, _, _>);
    let runner = quote! {
        #run_subscriber(__cortex_ctx_in, __cortex_run_in, |__cortex_msg, __cortex_header, __cortex_ctx| async move {
            #into_result(#ident(#(#call_args),*).await)
        })
    };
    let kind =
        quote!(#p::HandlerKind::Subscribe { topic: #topic, queue_depth: #queue, run: #run_fn });
    Ok(super::register(ident, &run_fn, &runner, &kind, &common))
}
