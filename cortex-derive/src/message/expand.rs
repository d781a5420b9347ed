//! Generating the `Message` and `Field` impls.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::python::{FingerprintRule, Plan};

pub(super) fn expand(plan: &Plan<'_>) -> TokenStream {
    let ident = plan.ident;
    let type_name = &plan.type_name;
    let n = plan.fields.len();
    let p = quote!(::cortex::__private);

    let fingerprint = match plan.rule {
        FingerprintRule::Fixed(fp) | FingerprintRule::Python { wire: fp, .. } => quote!(#fp),
        FingerprintRule::Native(base) => {
            let hashes = plan.fields.iter().map(|f| {
                let ty = f.ty;
                if f.serde {
                    let spelled = quote!(#ty).to_string().replace(' ', "");
                    let h = crate::fingerprint::sha256_u64(&format!("serde:{spelled}"));
                    quote!(#h)
                } else {
                    quote_spanned!(ty.span()=> <#ty as #p::Field>::TYPE_HASH)
                }
            });
            quote!(#p::combine(#base, &[#(#hashes),*]))
        }
    };
    let alternate = match plan.rule {
        FingerprintRule::Python { structural, .. } => {
            quote!(::core::option::Option::Some(#structural))
        }
        _ => quote!(::core::option::Option::None),
    };
    let python_path = match &plan.python_path {
        Some(path) => quote!(::core::option::Option::Some(#path)),
        None => quote!(::core::option::Option::None),
    };

    let schema_fields = plan.fields.iter().map(|f| {
        let (name, ty) = (&f.name, f.ty);
        let ty_name = if f.serde {
            let spelled = quote!(#ty).to_string().replace(' ', "");
            quote!(::std::format!("{} (serde)", #spelled))
        } else {
            quote_spanned!(ty.span()=> <#ty as #p::Field>::type_name())
        };
        quote!(#p::FieldSchema { name: #name, ty: #ty_name })
    });

    let writes = plan.fields.iter().map(|f| {
        let (member, name, ty) = (f.ident, &f.name, f.ty);
        if f.serde {
            quote!(#p::write_serde_field(__cortex_enc, #type_name, #name, &self.#member)?;)
        } else {
            // Every use of the type is `<#ty as Field>` at the type's span, so an
            // unsupported type is reported once (rustc merges identical errors).
            quote_spanned!(ty.span()=> #p::located_write(<#ty as #p::Field>::write(&self.#member, __cortex_enc), #type_name, #name)?;)
        }
    });

    let reads = plan.fields.iter().map(|f| {
        let (member, name, ty) = (f.ident, &f.name, f.ty);
        if f.serde {
            quote!(let #member = #p::read_serde_field::<#ty>(__cortex_dec, #type_name, #name)?;)
        } else {
            quote_spanned!(ty.span()=> let #member = #p::located_read(<#ty as #p::Field>::read(__cortex_dec), #type_name, #name)?;)
        }
    });
    let members = plan.fields.iter().map(|f| f.ident);
    let names = plan.fields.iter().map(|f| &f.name);

    quote! {
        #[automatically_derived]
        impl #p::Message for #ident {
            const FINGERPRINT: u64 = #fingerprint;
            const ALTERNATE_FINGERPRINT: ::core::option::Option<u64> = #alternate;
            const TYPE_NAME: &'static str = #type_name;

            fn schema() -> &'static #p::Schema {
                static __CORTEX_SCHEMA: #p::OnceLock<#p::Schema> = #p::OnceLock::new();
                __CORTEX_SCHEMA.get_or_init(|| #p::Schema {
                    type_name: #type_name,
                    fingerprint: <Self as #p::Message>::FINGERPRINT,
                    alternate_fingerprint: <Self as #p::Message>::ALTERNATE_FINGERPRINT,
                    python_path: #python_path,
                    fields: #p::vec![#(#schema_fields),*],
                })
            }
        }

        #[automatically_derived]
        impl #p::Field for #ident {
            const TYPE_HASH: u64 = <Self as #p::Message>::FINGERPRINT;

            fn type_name() -> ::std::string::String {
                ::std::string::String::from(#type_name)
            }

            fn write(&self, __cortex_enc: &mut #p::Encoder) -> ::core::result::Result<(), #p::EncodeError> {
                #p::begin_write(__cortex_enc, #n)?;
                #(#writes)*
                ::core::result::Result::Ok(())
            }

            fn read(__cortex_dec: &mut #p::Decoder<'_>) -> ::core::result::Result<Self, #p::DecodeError> {
                #p::begin_read(__cortex_dec, #type_name, &[#(#names),*])?;
                #(#reads)*
                #p::end_read(__cortex_dec);
                ::core::result::Result::Ok(Self { #(#members),* })
            }
        }
    }
}

/// Impls emitted next to errors so the type still "is" a message and the
/// user sees only the real errors. Never runs: the crate doesn't compile.
pub(super) fn stub(ident: &syn::Ident) -> TokenStream {
    let p = quote!(::cortex::__private);
    quote! {
        #[automatically_derived]
        impl #p::Message for #ident {
            const FINGERPRINT: u64 = 0;
            const TYPE_NAME: &'static str = "";
            fn schema() -> &'static #p::Schema {
                ::core::unreachable!()
            }
        }
        #[automatically_derived]
        impl #p::Field for #ident {
            const TYPE_HASH: u64 = 0;
            fn type_name() -> ::std::string::String {
                ::core::unreachable!()
            }
            fn write(&self, _: &mut #p::Encoder) -> ::core::result::Result<(), #p::EncodeError> {
                ::core::unreachable!()
            }
            fn read(_: &mut #p::Decoder<'_>) -> ::core::result::Result<Self, #p::DecodeError> {
                ::core::unreachable!()
            }
        }
    }
}
