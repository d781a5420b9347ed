//! Procedural macros for cortex. Use them through the `cortex` crate:
//! `#[derive(cortex::Message)]`.
//!
//! Each macro goes parse → validate → generate. Errors are collected in a
//! `ctxt::Ctxt` and reported together, each spanned at the user's token;
//! the item is still emitted so one mistake shows as one error.
#![warn(missing_docs)]

mod ctxt;
mod fingerprint;
mod handler;
mod message;
mod symbol;

use proc_macro::TokenStream;

/// Derives `cortex::Message`. See the `cortex` crate for the options.
#[proc_macro_derive(Message, attributes(cortex))]
pub fn derive_message(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    message::derive(&input).into()
}

/// Runs an async function for every message on a topic. See `cortex::subscribe`.
#[proc_macro_attribute]
pub fn subscribe(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = syn::parse_macro_input!(item as syn::ItemFn);
    handler::finish(&item, handler::subscribe::expand(attr.into(), &item)).into()
}

/// Runs an async function on a fixed-rate timer. See `cortex::timer`.
#[proc_macro_attribute]
pub fn timer(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = syn::parse_macro_input!(item as syn::ItemFn);
    handler::finish(&item, handler::timer::expand(attr.into(), &item)).into()
}

/// Answers calls of a service with an async function. See `cortex::service`.
#[proc_macro_attribute]
pub fn service(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = syn::parse_macro_input!(item as syn::ItemFn);
    handler::finish(&item, handler::service::expand(attr.into(), &item)).into()
}

/// The entry point of a cortex program. See `cortex::main`.
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = syn::parse_macro_input!(item as syn::ItemFn);
    handler::entry::expand(attr.into(), &item).into()
}
