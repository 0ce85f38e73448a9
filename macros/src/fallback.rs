//! What is emitted when `#[openai_client]` finds errors: the errors, the
//! struct, and a stand-in `ChatClient` impl, so that the user sees the
//! macro's errors and no others (uses of the struct as a client still
//! type-check).

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::expand::{self, Failed};

/// The struct without the macro's attributes, `failed`'s errors, and (when
/// the runtime's path is known) a `ChatClient` impl that compiles whatever
/// was wrong.
pub(crate) fn expand(node: &DeriveInput, failed: Failed) -> TokenStream {
    let item = expand::strip(node);
    let errors = failed.errors.to_compile_error();
    let Some(krate) = failed.krate else {
        // `crate = ...` was wrong: any path the stand-in named could be one
        // more error.
        return quote! { #item #errors };
    };
    let p = quote!(#krate::__private);
    let name = &node.ident;
    let (impl_generics, ty_generics, _) = node.generics.split_for_impl();
    let user = node
        .generics
        .where_clause
        .iter()
        .flat_map(|w| &w.predicates);
    quote! {
        #item
        #errors
        #[automatically_derived]
        impl #impl_generics #p::ChatClient for #name #ty_generics
        where
            #(#user,)*
            for<'__h> Self: ::core::marker::Send + ::core::marker::Sync,
        {
            fn create(
                &self,
                _: #p::ChatRequest,
            ) -> impl ::core::future::Future<
                Output = ::core::result::Result<#p::ChatResponse, #p::ClientError>,
            > + ::core::marker::Send {
                async { ::core::unreachable!("`#[openai_client]` reported an error") }
            }
            fn create_stream(
                &self,
                _: #p::ChatRequest,
            ) -> impl ::core::future::Future<
                Output = ::core::result::Result<#p::ChatStream<'_>, #p::ClientError>,
            > + ::core::marker::Send {
                async { ::core::unreachable!("`#[openai_client]` reported an error") }
            }
        }
    }
}
