//! `#[timer(hz = 30)]` / `#[timer(period_ms = 100)]`, with `node` and `publishes`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::args::{self, Arg, Opt};
use super::subscribe::Common;
use crate::ctxt::Ctxt;

/// The longest timer period: a year, in nanoseconds. Longer is a mistake
/// (and `period_ms` past ~584 years would not fit in a `u64` of nanoseconds).
const MAX_PERIOD_NS: u64 = 365 * 24 * 3600 * 1_000_000_000;

const VALID: &str =
    "`hz = N` or `period_ms = N` (one of them), `node = \"name\"`, `publishes(TOPIC, ...)`";

pub(crate) fn expand(attr: TokenStream, item: &syn::ItemFn) -> Result<TokenStream, syn::Error> {
    let mut cx = Ctxt::default();
    let mut hz: Option<Opt<f64>> = None;
    let mut period_ms: Option<Opt<u64>> = None;
    let mut common = Common::default();
    let mut rate_given = false;
    let attr_span = attr.span();
    let empty = attr.is_empty();
    for arg in args::parse(&mut cx, attr) {
        match &arg {
            Arg::Value(k, v) if k == "hz" => {
                rate_given = true;
                if let Some(rate) = args::positive_number(&mut cx, k, v) {
                    if rate > 1_000_000.0 {
                        cx.error_spanned_by(v, "`hz` above 1 MHz is not a timer; use a loop");
                    } else if 1e9 / rate > MAX_PERIOD_NS as f64 {
                        cx.error_spanned_by(
                            v,
                            "`hz` is too small: the period must be at most a year",
                        );
                    }
                    args::set(&mut cx, &mut hz, k, rate);
                }
            }
            Arg::Value(k, v) if k == "period_ms" => {
                rate_given = true;
                if let Some(ms) = args::positive_int(&mut cx, k, v) {
                    if ms > MAX_PERIOD_NS / 1_000_000 {
                        cx.error_spanned_by(
                            v,
                            format!(
                                "`period_ms` is too large: the period must be at most a year ({} ms)",
                                MAX_PERIOD_NS / 1_000_000
                            ),
                        );
                    }
                    args::set(&mut cx, &mut period_ms, k, ms);
                }
            }
            other if common.take(&mut cx, other) => {}
            other => args::unknown(&mut cx, other, "timer", VALID),
        }
    }
    // Both are checked above to be at most `MAX_PERIOD_NS`.
    let period_ns = match (&hz, &period_ms) {
        (Some(h), None) => Some((1e9 / h.value).round() as u64),
        (None, Some(ms)) => Some(ms.value.saturating_mul(1_000_000)),
        (Some(_), Some(ms)) => {
            cx.syn_error(syn::Error::new(
                ms.span,
                "give either `hz` or `period_ms`, not both",
            ));
            None
        }
        (None, None) if rate_given => None,
        (None, None) => {
            let span = if empty {
                item.sig.ident.span()
            } else {
                attr_span
            };
            cx.syn_error(syn::Error::new(
                span,
                "#[timer] needs a rate: #[timer(hz = 30)] or #[timer(period_ms = 100)]",
            ));
            None
        }
    };
    args::check_fn(&mut cx, item, "timer");
    args::check_inputs(&mut cx, item, "timer");
    if let Some(e) = cx.check() {
        return Err(e);
    }
    let Some(period_ns) = period_ns else {
        return Err(syn::Error::new(item.sig.ident.span(), "invalid #[timer]"));
    };

    let p = quote!(::cortex::__private);
    let ident = &item.sig.ident;
    let run_fn = format_ident!("__cortex_run_{}", ident);
    let into_result = args::into_result(item);
    // Each argument is checked by `__private::TimerArg`, at its span.
    let call_args = args::typed_inputs(item).map(|ty| {
        let (lo, hi) = args::ends(ty);
        let open = quote_spanned!(lo=> <);
        let close = quote_spanned!(lo=> as #p::TimerArg>::);
        let call = quote_spanned!(hi=> from_tick(&__cortex_ctx));
        quote!(#open #ty #close #call)
    });
    let runner = quote! {
        #p::run_timer(__cortex_ctx_in, __cortex_run_in, |__cortex_ctx: ::cortex::Ctx| async move {
            #into_result(#ident(#(#call_args),*).await)
        })
    };
    let kind = quote! {
        #p::HandlerKind::Timer { period: ::core::time::Duration::from_nanos(#period_ns), run: #run_fn }
    };
    Ok(super::register(ident, &run_fn, &runner, &kind, &common))
}
