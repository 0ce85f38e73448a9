//! Writes the code: the struct without the macro's attributes, its
//! `ChatClient` impl, and compile-time checks of the field types.
//!
//! Generated code reaches the runtime only through `<crate>::__private`
//! (`::openai_hooks` unless `crate = "..."` says otherwise) and absolute
//! paths, so it works whatever the user's crate has in scope.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, ExprPath, Path, WherePredicate};

use crate::ast::{Field, Hook, Input, Target};
use crate::attr;
use crate::ctxt::Ctxt;
use crate::kind::{Api, HookKind};
use crate::model::Model;
use crate::valid;

/// Why `#[openai_client]` could not expand.
pub(crate) struct Failed {
    /// Every error found, combined.
    pub(crate) errors: syn::Error,
    /// The runtime's path, unless `crate = ...` itself was wrong.
    pub(crate) krate: Option<Path>,
    /// The APIs the client was to serve (stand-in impls are written for
    /// them).
    pub(crate) apis: Vec<Api>,
}

/// Expands `#[openai_client(args)] node`: parse, validate, build the model,
/// write the code.
pub(crate) fn try_expand(args: TokenStream, node: &DeriveInput) -> Result<TokenStream, Failed> {
    let cx = Ctxt::new();
    let args = attr::struct_args(args, &cx);
    let krate = args.krate.path();
    let apis = args.apis;
    let input = Input::from_syn(node, args.methods, &cx);
    let hooks = input.hooks();
    valid::check(&input, &hooks, &cx);
    let checked = cx.check().and_then(|()| {
        // A bad `crate = ...` and a missing `#[inner]` were reported above.
        krate
            .as_ref()
            .and_then(|krate| Model::new(&input, hooks, krate, apis.clone()))
            .ok_or_else(|| syn::Error::new_spanned(input.ident(), "no `#[inner]` field"))
    });
    match checked {
        Ok(model) => {
            let item = strip(node);
            let clients = model.apis.iter().map(|&api| client_impl(&model, api));
            Ok(quote! { #item #(#clients)* })
        }
        Err(errors) => Err(Failed {
            errors,
            krate,
            apis,
        }),
    }
}

/// The struct as written, minus this macro's field attributes.
pub(crate) fn strip(node: &DeriveInput) -> DeriveInput {
    let mut node = node.clone();
    let fields: Vec<&mut syn::Field> = match &mut node.data {
        Data::Struct(s) => s.fields.iter_mut().collect(),
        Data::Enum(e) => e
            .variants
            .iter_mut()
            .flat_map(|v| v.fields.iter_mut())
            .collect(),
        Data::Union(u) => u.fields.named.iter_mut().collect(),
    };
    for field in fields {
        field.attrs.retain(|a| !attr::is_helper(a));
    }
    node
}

/// The bounds and checks the field types need.
#[derive(Default)]
struct Bounds {
    /// Extra `where` predicates of the impl.
    predicates: Vec<TokenStream>,
    /// Calls to `assert_*::<Ty>()`, evaluated in a `const`.
    checks: Vec<TokenStream>,
}

impl Bounds {
    /// `field`'s type must implement `trait_name` (checked by `assert`).
    ///
    /// A generic type gets a plain bound, like a derive's. A concrete type
    /// gets a check whose error lands on the field's type and carries the
    /// trait's `on_unimplemented` note; the bound it also gets is written
    /// `for<'__h>` so rustc does not check it as a trivially false bound,
    /// which would report the same problem a second time (the body type
    /// checks against the bound, so it reports nothing either).
    fn require(
        &mut self,
        p: &TokenStream,
        field: &Field<'_>,
        trait_path: &TokenStream,
        assert: &str,
    ) {
        let ty = field.ty;
        let span = ty.span();
        if field.generic {
            self.predicates
                .push(quote_spanned!(span=> #ty: #p::#trait_path));
        } else {
            let assert = format_ident!("{}", assert, span = span);
            self.predicates
                .push(quote_spanned!(span=> for<'__h> #ty: #p::#trait_path));
            self.checks
                .push(quote_spanned!(span=> #p::#assert::<#ty>();));
        }
    }
}

fn bounds(model: &Model<'_, '_>, api: Api) -> Bounds {
    let p = model.private();
    let api_spec = api.spec();
    let mut bounds = Bounds::default();
    for field in model.fields {
        // A field may be a hook of several kinds (one value serving several
        // stages): it needs each kind's trait.
        let kinds: Vec<HookKind> = HookKind::ALL
            .into_iter()
            .filter(|&k| field.hook(k).is_some())
            .collect();
        if field.is_inner() {
            let client = format_ident!("{}", api_spec.client_trait, span = field.ty.span());
            bounds.require(p, field, &quote!(#client), api_spec.client_assert_fn);
        } else if !kinds.is_empty() {
            for kind in kinds {
                let hook_trait = hook_trait(p, kind, api, field.ty.span());
                bounds.require(p, field, &hook_trait, api.hook_assert_fn(kind));
            }
        } else if field.generic {
            // A client is shared across tasks: plain fields that depend on a
            // parameter must be too (hook and client traits imply it).
            let ty = field.ty;
            bounds
                .predicates
                .push(quote!(#ty: ::core::marker::Send + ::core::marker::Sync));
        }
    }
    bounds
}

/// `Trait` or `Trait<__private::Type>`: `kind`'s hook trait for `api`
/// (Chat's types are the traits' defaults).
fn hook_trait(p: &TokenStream, kind: HookKind, api: Api, span: Span) -> TokenStream {
    let trait_name = format_ident!("{}", kind.spec().trait_name, span = span);
    if api.spec().explicit {
        let operand = format_ident!("{}", api.operand(kind), span = span);
        quote_spanned!(span=> #trait_name<#p::#operand>)
    } else {
        quote!(#trait_name)
    }
}

/// `impl ChatClient for Struct` (or `ResponsesClient`, per `api`), and the
/// checks of the field types.
fn client_impl(model: &Model<'_, '_>, api: Api) -> TokenStream {
    let p = model.private();
    let name = model.ident;
    let generics = model.generics;
    let (impl_generics, ty_generics, _) = generics.split_for_impl();
    let Bounds { predicates, checks } = bounds(model, api);
    let user: Vec<&WherePredicate> = generics
        .where_clause
        .iter()
        .flat_map(|w| &w.predicates)
        .collect();
    let where_clause = if user.is_empty() && predicates.is_empty() {
        quote!()
    } else {
        quote!(where #(#user,)* #(#predicates,)*)
    };
    let create = create(model, api);
    let create_stream = create_stream(model, api);
    let client_trait = format_ident!("{}", api.spec().client_trait);
    let checks = if checks.is_empty() {
        quote!()
    } else {
        quote!(const _: () = { #(#checks)* };)
    };
    quote! {
        #[automatically_derived]
        impl #impl_generics #p::#client_trait for #name #ty_generics #where_clause {
            #create
            #create_stream
        }
        #checks
    }
}

/// Local names in the generated bodies, and the API's names.
struct Locals {
    /// `<crate>::__private`.
    p: TokenStream,
    request: TokenStream,
    response: TokenStream,
    cx: TokenStream,
    /// The API's client trait and types, under `p`.
    client: TokenStream,
    request_ty: TokenStream,
    response_ty: TokenStream,
    stream_ty: TokenStream,
    event_ty: TokenStream,
    api: Api,
}

impl Locals {
    fn new(model: &Model<'_, '_>, api: Api) -> Self {
        let local =
            |name: &str| proc_macro2::Ident::new(name, Span::call_site()).into_token_stream();
        let p = model.private().clone();
        let spec = api.spec();
        let item = |name: &str| {
            let name = format_ident!("{}", name);
            quote!(#p::#name)
        };
        Self {
            request: local("request"),
            response: local("response"),
            cx: local("cx"),
            client: item(spec.client_trait),
            request_ty: item(spec.request),
            response_ty: item(spec.response),
            stream_ty: item(spec.stream),
            event_ty: item(spec.event),
            api,
            p,
        }
    }
}

fn policy(hook: &Hook<'_>, l: &Locals) -> TokenStream {
    let p = &l.p;
    if hook.fail_open {
        quote!(#p::FailurePolicy::FailOpen)
    } else {
        quote!(#p::FailurePolicy::FailClosed)
    }
}

/// `guard(<run hook>, name, stage, policy).await?;` for one hook run once
/// per call (pre-request or post-response), on `target`.
fn guarded(hook: &Hook<'_>, target: &TokenStream, l: &Locals) -> TokenStream {
    let (p, cx) = (&l.p, &l.cx);
    let spec = hook.kind.spec();
    let stage = format_ident!("{}", spec.stage);
    let stage = quote!(#p::Stage::#stage);
    let name = &hook.name;
    let policy = policy(hook, l);
    // The API's type, named: a hook type may serve several APIs.
    let operand = format_ident!("{}", l.api.operand(hook.kind));
    match &hook.target {
        Target::Field(field) => {
            let ident = field.ident;
            let trait_name = format_ident!("{}", spec.trait_name);
            let method = format_ident!("{}", spec.method);
            quote! {
                #p::guard(
                    #p::#trait_name::<#p::#operand>::#method(&self.#ident, &mut #target, &mut #cx),
                    #name, #stage, #policy,
                ).await?;
            }
        }
        // Spanned at the user's path: a method that does not exist or does
        // not fit is reported there, against the signature the API needs.
        Target::Method(path) => {
            let adapter = format_ident!("{}", spec.method_adapter);
            let args = quote!(self, &mut #target, &mut #cx, #path);
            let run = spanned_call(path, &quote!(#p::#adapter), args);
            quote! {
                #p::guard(#run, #name, #stage, #policy).await?;
            }
        }
    }
}

/// `callee(args)`, spanned so that rustc reports an error about the call
/// on all of `path`: an expression's span runs from its first token to its
/// last, so the callee takes the span of the path's first token and the
/// parentheses that of its last (`Span::join` is nightly-only).
fn spanned_call(path: &ExprPath, callee: &TokenStream, args: TokenStream) -> TokenStream {
    let (first, last) = ends(path);
    let callee = respan(callee.clone(), first);
    let mut group = Group::new(Delimiter::Parenthesis, args);
    group.set_span(last);
    quote!(#callee #group)
}

/// The spans of the first and last tokens of `path`.
fn ends(path: &ExprPath) -> (Span, Span) {
    let mut tokens = path.to_token_stream().into_iter();
    let first = tokens.next().map_or_else(Span::call_site, |t| t.span());
    let last = tokens.last().map_or(first, |t| t.span());
    (first, last)
}

/// `tokens` spanned from `first` to `last`: every token at `first` but the
/// last one, at `last`.
fn respan_last(tokens: TokenStream, first: Span, last: Span) -> TokenStream {
    let mut tokens: Vec<TokenTree> = respan(tokens, first).into_iter().collect();
    if let Some(tt) = tokens.last_mut() {
        tt.set_span(last);
    }
    tokens.into_iter().collect()
}

/// `tokens` with every span set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let TokenTree::Group(g) = &tt {
                let mut inner = Group::new(g.delimiter(), respan(g.stream(), span));
                inner.set_span(span);
                tt = TokenTree::Group(inner);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

/// `create`: pre-request hooks, the inner call, post-response hooks.
fn create(model: &Model<'_, '_>, api: Api) -> TokenStream {
    let l = Locals::new(model, api);
    let p = &l.p;
    let (client, request_ty, response_ty) = (&l.client, &l.request_ty, &l.response_ty);
    let inner = model.inner.ident;
    let (request, response, cx) = (&l.request, &l.response, &l.cx);
    let pre: Vec<_> = model
        .hooks(HookKind::PreRequest)
        .map(|h| guarded(h, request, &l))
        .collect();
    let post: Vec<_> = model
        .hooks(HookKind::PostResponse)
        .map(|h| guarded(h, response, &l))
        .collect();
    let post_stage = format_ident!("{}", HookKind::PostResponse.spec().stage);
    let signature = quote! {
        fn create(
            &self,
            #request: #request_ty,
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<#response_ty, #p::ClientError>,
        > + ::core::marker::Send
    };
    if pre.is_empty() && post.is_empty() {
        return quote! {
            #signature {
                #client::create(&self.#inner, #request)
            }
        };
    }
    // Pre-request hooks may rewrite the request (and reroute its model);
    // later hooks see the context as it was sent.
    let (mut_request, _, sent) = rewrites(&pre, &l);
    let after = if post.is_empty() {
        quote!(#client::create(&self.#inner, #request).await)
    } else {
        quote! {
            #sent
            let mut #response = #client::create(&self.#inner, #request).await?;
            #p::enter(&mut #cx, #p::Stage::#post_stage);
            #(#post)*
            ::core::result::Result::Ok(#response)
        }
    };
    quote! {
        #signature {
            async move {
                #mut_request
                // Mutable: pre-request hooks or `enter` below take it.
                let mut #cx = #p::HookContext::for_request(&#request);
                #(#pre)*
                #after
            }
        }
    }
}

/// `let mut request`, `mut` for the context, and `sent(..)`, when there
/// are pre-request hooks (without them the request is sent as given, and
/// the context is only read).
fn rewrites(pre: &[TokenStream], l: &Locals) -> (TokenStream, TokenStream, TokenStream) {
    if pre.is_empty() {
        return (quote!(), quote!(), quote!());
    }
    let (p, request, cx) = (&l.p, &l.request, &l.cx);
    (
        quote!(let mut #request = #request;),
        quote!(mut),
        quote!(#p::sent(&mut #cx, &#request);),
    )
}

/// `create_stream`: pre-request hooks, the inner call, and the chunk hooks
/// chained around the inner stream.
fn create_stream(model: &Model<'_, '_>, api: Api) -> TokenStream {
    let l = Locals::new(model, api);
    let p = &l.p;
    let (client, request_ty, stream_ty, event_ty) =
        (&l.client, &l.request_ty, &l.stream_ty, &l.event_ty);
    let inner = model.inner.ident;
    let (request, cx) = (&l.request, &l.cx);
    let pre: Vec<_> = model
        .hooks(HookKind::PreRequest)
        .map(|h| guarded(h, request, &l))
        .collect();
    let chunk_hooks: Vec<&Hook<'_>> = model.hooks(HookKind::OnChunk).collect();
    let signature = quote! {
        fn create_stream(
            &self,
            #request: #request_ty,
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<#stream_ty<'_>, #p::ClientError>,
        > + ::core::marker::Send
    };
    if pre.is_empty() && chunk_hooks.is_empty() {
        return quote! {
            #signature {
                #client::create_stream(&self.#inner, #request)
            }
        };
    }
    // The chain runs the hooks in order: the first is the outermost link.
    let chain = chunk_hooks.iter().rev().fold(quote!(()), |next, hook| {
        let hook_value = match &hook.target {
            Target::Field(field) => {
                let ident = field.ident;
                quote!(&self.#ident)
            }
            // The method is bound to the hook's `fn` type first: a wrong
            // signature is then a mismatch on the user's path that shows
            // both signatures.
            Target::Method(path) => {
                let (first, last) = ends(path);
                let adapter = format_ident!("{}", hook.kind.spec().method_adapter);
                let ty = if api.spec().explicit {
                    respan_last(quote!(#p::#adapter<Self, #event_ty>), first, last)
                } else {
                    respan_last(quote!(#p::#adapter<Self>), first, last)
                };
                quote!(#p::MethodChunk::new(self, {
                    let hook: #ty = #path;
                    hook
                }))
            }
        };
        let name = &hook.name;
        let policy = policy(hook, &l);
        quote!(#p::Link::new(#hook_value, #name, #policy, #next))
    });
    let (mut_request, mut_cx, sent) = rewrites(&pre, &l);
    let after = if chunk_hooks.is_empty() {
        quote!(#client::create_stream(&self.#inner, #request).await)
    } else {
        quote! {
            #sent
            let upstream = #client::create_stream(&self.#inner, #request).await?;
            ::core::result::Result::Ok(#p::hooked(upstream, #chain, #cx))
        }
    };
    quote! {
        #signature {
            async move {
                #mut_request
                let #mut_cx #cx = #p::HookContext::for_stream(&#request);
                #(#pre)*
                #after
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::try_expand;

    #[test]
    fn generated_code_uses_the_given_crate_path() {
        let node = syn::parse_quote! {
            struct Renamed {
                #[inner]
                client: Client,
                #[pre_request]
                #[post_response]
                #[on_chunk]
                hook: Hook,
            }
        };
        let args = quote!(crate = "oh", pre_request = Self::a, on_chunk = Self::b);
        let Ok(out) = try_expand(args, &node) else {
            panic!("a valid struct failed to expand");
        };
        let out = out.to_string();
        assert!(out.contains("oh :: __private"), "{out}");
        assert!(!out.contains("openai_hooks"), "{out}");
    }
}
