//! What is emitted when `#[openai_client]` finds errors: the errors, the
//! struct, and a stand-in client impl per API it was to serve, so that the
//! user sees the macro's errors and no others (uses of the struct as a
//! client still type-check).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::DeriveInput;

use crate::expand::{self, Failed};

/// The struct without the macro's attributes, `failed`'s errors, and (when
/// the runtime's path is known) client impls that compile whatever was
/// wrong.
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
        .flat_map(|w| &w.predicates)
        .collect::<Vec<_>>();
    let user = &user;
    let stand_ins = failed.apis.iter().map(|api| {
        let spec = api.spec();
        let [client, request, response, stream] =
            [spec.client_trait, spec.request, spec.response, spec.stream]
                .map(|name| format_ident!("{}", name));
        quote! {
            #[automatically_derived]
            impl #impl_generics #p::#client for #name #ty_generics
            where
                #(#user,)*
                for<'__h> Self: ::core::marker::Send + ::core::marker::Sync,
            {
                fn create(
                    &self,
                    _: #p::#request,
                ) -> impl ::core::future::Future<
                    Output = ::core::result::Result<#p::#response, #p::ClientError>,
                > + ::core::marker::Send {
                    async { ::core::unreachable!("`#[openai_client]` reported an error") }
                }
                fn create_stream(
                    &self,
                    _: #p::#request,
                ) -> impl ::core::future::Future<
                    Output = ::core::result::Result<#p::#stream<'_>, #p::ClientError>,
                > + ::core::marker::Send {
                    async { ::core::unreachable!("`#[openai_client]` reported an error") }
                }
            }
        }
    });
    quote! {
        #item
        #errors
        #(#stand_ins)*
    }
}
