//! Writes the struct back (helper attributes removed) and its `ChatClient`
//! implementation.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, LitStr};

use crate::ast::{Field, Input};
use crate::attr::{self, HookKind};
use crate::ctxt::Ctxt;
use crate::valid;

pub(crate) fn openai_client(args: TokenStream, input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let parsed = Input::from_syn(&mut cx, args, input);
    valid::check(&mut cx, &parsed);
    let item = strip_helpers(input);
    if cx.has_errors() {
        // The struct still exists, so code using it reports nothing more.
        let errors = cx.into_compile_errors();
        return quote!(#item #errors);
    }
    let implementation = parsed
        .inner()
        .map(|inner| chat_client_impl(&parsed, inner))
        .unwrap_or_default();
    quote!(#item #implementation)
}

/// The struct as written, without the attributes this macro reads.
fn strip_helpers(input: &DeriveInput) -> DeriveInput {
    let mut item = input.clone();
    if let Data::Struct(data) = &mut item.data
        && let Fields::Named(fields) = &mut data.fields
    {
        for field in &mut fields.named {
            field.attrs.retain(|a| !attr::is_helper(a));
        }
    }
    item
}

/// One hook call site, in run order.
enum Hook<'a> {
    Field {
        field: &'a Field<'a>,
        name: LitStr,
        fail_open: bool,
    },
    Method {
        path: &'a syn::ExprPath,
        name: LitStr,
        fail_open: bool,
    },
}

/// Hooks of `kind` in the order they are written: the struct attribute's
/// methods (written above the fields), then the fields top to bottom.
fn hooks<'a>(input: &'a Input<'a>, kind: HookKind) -> Vec<Hook<'a>> {
    let methods = input.methods.iter().filter(|m| m.kind == kind).map(|m| {
        let last = m.path.path.segments.last().map(|s| s.ident.to_string());
        Hook::Method {
            path: &m.path,
            name: LitStr::new(&last.unwrap_or_default(), m.path.span()),
            fail_open: m.fail_open,
        }
    });
    let fields = input.fields.iter().flat_map(move |field| {
        field
            .attrs
            .hooks
            .iter()
            .filter(move |h| h.kind == kind)
            .map(move |h| Hook::Field {
                field,
                name: h
                    .name
                    .clone()
                    .unwrap_or_else(|| LitStr::new(&field.ident.to_string(), field.ident.span())),
                fail_open: h.fail_open,
            })
    });
    methods.chain(fields).collect()
}

fn policy(fail_open: bool) -> TokenStream {
    if fail_open {
        quote!(::openai_hooks::__private::FailurePolicy::FailOpen)
    } else {
        quote!(::openai_hooks::__private::FailurePolicy::FailClosed)
    }
}

fn trait_path(kind: HookKind) -> TokenStream {
    match kind {
        HookKind::PreRequest => quote!(::openai_hooks::__private::PreRequest),
        HookKind::PostResponse => quote!(::openai_hooks::__private::PostResponse),
        HookKind::OnChunk => quote!(::openai_hooks::__private::OnChunk),
    }
}

/// Calls of the pre-request (`target` = request) or post-response
/// (`target` = response) hooks.
fn stage_calls(input: &Input<'_>, kind: HookKind, target: &syn::Ident) -> TokenStream {
    let (stage, method) = match kind {
        HookKind::PreRequest => (quote!(PreRequest), quote!(pre_request)),
        _ => (quote!(PostResponse), quote!(post_response)),
    };
    let trait_path = trait_path(kind);
    hooks(input, kind)
        .into_iter()
        .map(|hook| {
            let (call, name, fail_open) = match hook {
                Hook::Field {
                    field,
                    name,
                    fail_open,
                } => {
                    let ident = field.ident;
                    let call = quote!(#trait_path::#method(&self.#ident, &mut #target, &mut __cx));
                    (call, name, fail_open)
                }
                Hook::Method {
                    path,
                    name,
                    fail_open,
                } => {
                    // Spanned so a missing method or a wrong signature is
                    // reported on the user's `Self::method`.
                    let call = quote_spanned!(path.span()=> #path(self, &mut #target, &mut __cx));
                    (call, name, fail_open)
                }
            };
            let policy = policy(fail_open);
            quote! {
                ::openai_hooks::__private::guard(
                    #call,
                    #name,
                    ::openai_hooks::__private::Stage::#stage,
                    #policy,
                )
                .await?;
            }
        })
        .collect()
}

/// The chunk-hook chain, nested from the last hook outwards; `None` when
/// there are no chunk hooks.
fn chunk_chain(input: &Input<'_>) -> Option<TokenStream> {
    let hooks = hooks(input, HookKind::OnChunk);
    if hooks.is_empty() {
        return None;
    }
    let mut chain = quote!(());
    for hook in hooks.into_iter().rev() {
        let (hook_value, name, fail_open) = match hook {
            Hook::Field {
                field,
                name,
                fail_open,
            } => {
                let ident = field.ident;
                (quote!(&self.#ident), name, fail_open)
            }
            Hook::Method {
                path,
                name,
                fail_open,
            } => {
                let method = quote_spanned! {path.span()=>
                    {
                        let method: ::openai_hooks::__private::ChunkMethod<Self> = #path;
                        method
                    }
                };
                (
                    quote!(::openai_hooks::__private::MethodChunk::new(self, #method)),
                    name,
                    fail_open,
                )
            }
        };
        let policy = policy(fail_open);
        chain = quote!(::openai_hooks::__private::Link::new(#hook_value, #name, #policy, #chain));
    }
    Some(chain)
}

/// Where-predicates that the inner field is a client and each hook field
/// implements its trait, spanned on the field's type so an unmet bound is
/// reported there, with the trait's `on_unimplemented` note.
fn bounds(input: &Input<'_>, inner: &Field<'_>) -> Vec<TokenStream> {
    let mut out = Vec::new();
    let ty = inner.ty;
    out.push(quote_spanned!(ty.span()=> #ty: ::openai_hooks::__private::ChatClient));
    for field in &input.fields {
        for hook in &field.attrs.hooks {
            let ty = field.ty;
            // The trait path is written here, not interpolated, so all of
            // the predicate carries the type's span.
            out.push(match hook.kind {
                HookKind::PreRequest => {
                    quote_spanned!(ty.span()=> #ty: ::openai_hooks::__private::PreRequest)
                }
                HookKind::PostResponse => {
                    quote_spanned!(ty.span()=> #ty: ::openai_hooks::__private::PostResponse)
                }
                HookKind::OnChunk => {
                    quote_spanned!(ty.span()=> #ty: ::openai_hooks::__private::OnChunk)
                }
            });
        }
    }
    out
}

fn chat_client_impl(input: &Input<'_>, inner: &Field<'_>) -> TokenStream {
    let item = input.original;
    let ident = &item.ident;
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    let mut predicates: Vec<TokenStream> = where_clause
        .map(|w| w.predicates.iter().map(|p| quote!(#p)).collect())
        .unwrap_or_default();
    predicates.extend(bounds(input, inner));

    let request = syn::Ident::new("request", Span::call_site());
    let response = syn::Ident::new("response", Span::call_site());
    let pre = stage_calls(input, HookKind::PreRequest, &request);
    let post = stage_calls(input, HookKind::PostResponse, &response);
    let inner_ident = inner.ident;
    let stream = match chunk_chain(input) {
        Some(chain) => quote! {
            ::core::result::Result::Ok(::openai_hooks::__private::hooked(upstream, #chain, __cx))
        },
        None => quote! {
            let _ = __cx;
            ::core::result::Result::Ok(upstream)
        },
    };

    quote! {
        #[automatically_derived]
        impl #impl_generics ::openai_hooks::__private::ChatClient for #ident #ty_generics
        where
            #(#predicates,)*
        {
            async fn create(
                &self,
                request: ::openai_hooks::__private::ChatRequest,
            ) -> ::core::result::Result<
                ::openai_hooks::__private::ChatResponse,
                ::openai_hooks::__private::ClientError,
            > {
                #[allow(unused_mut)]
                let mut request = request;
                let mut __cx = ::openai_hooks::__private::HookContext::for_request(&request);
                #pre
                ::openai_hooks::__private::sent(&mut __cx, &request);
                #[allow(unused_mut)]
                let mut response =
                    ::openai_hooks::__private::ChatClient::create(&self.#inner_ident, request).await?;
                ::openai_hooks::__private::enter(
                    &mut __cx,
                    ::openai_hooks::__private::Stage::PostResponse,
                );
                #post
                ::core::result::Result::Ok(response)
            }

            async fn create_stream(
                &self,
                request: ::openai_hooks::__private::ChatRequest,
            ) -> ::core::result::Result<
                ::openai_hooks::__private::ChatStream<'_>,
                ::openai_hooks::__private::ClientError,
            > {
                #[allow(unused_mut)]
                let mut request = request;
                let mut __cx = ::openai_hooks::__private::HookContext::for_request(&request);
                #pre
                ::openai_hooks::__private::sent(&mut __cx, &request);
                let upstream =
                    ::openai_hooks::__private::ChatClient::create_stream(&self.#inner_ident, request)
                        .await?;
                #stream
            }
        }
    }
}
