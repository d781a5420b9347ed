//! Procedural macros for cortex. Use them through the `cortex` crate:
//! `#[derive(cortex::Message)]`.
//!
//! Each macro goes parse → validate → generate. Errors are collected in a
//! [`ctxt::Ctxt`] and reported together, each spanned at the user's token;
//! the item is still emitted so one mistake shows as one error.
#![warn(missing_docs)]

mod ctxt;
mod fingerprint;
mod message;
mod symbol;

use proc_macro::TokenStream;

/// Derives `cortex::Message`. See the `cortex` crate for the options.
#[proc_macro_derive(Message, attributes(cortex))]
pub fn derive_message(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    message::derive(&input).into()
}
