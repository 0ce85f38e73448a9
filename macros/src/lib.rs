//! Procedural macros for `openai-hooks`. Use them through that crate: the
//! generated code names `::openai_hooks` (or the path given by
//! `crate = "..."`).
//!
//! `#[openai_client]` goes through four steps: read the struct and its
//! attributes (`ast.rs`, `attr.rs`), check what they mean together
//! (`valid.rs`, every error collected in a `Ctxt`), gather what a valid
//! struct means (`model.rs`), and write the code (`expand.rs`). What each
//! kind of hook means is one table (`kind.rs`). On error, `fallback.rs`
//! still emits the struct, so the user sees the macro's errors and no
//! others.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod ast;
mod attr;
mod ctxt;
mod expand;
mod fallback;
mod kind;
mod model;
mod valid;

use proc_macro::TokenStream;

/// Turns a struct holding an inner client and hooks into a `ChatClient`.
///
/// Documented, with examples, where it is re-exported:
/// `openai_hooks::openai_client` (`runtime/src/openai_client.md`).
#[proc_macro_attribute]
pub fn openai_client(args: TokenStream, input: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(input);
    match syn::parse2::<syn::DeriveInput>(item.clone()) {
        Ok(node) => expand::try_expand(args.into(), &node)
            .unwrap_or_else(|failed| fallback::expand(&node, failed))
            .into(),
        // Not a struct, enum or union (a function, say): keep the item so
        // its uses still resolve, and say where the attribute goes.
        Err(parse) => {
            let err = syn::Error::new(
                parse.span(),
                "`#[openai_client]` only applies to a struct; move it to one with named fields",
            )
            .to_compile_error();
            quote::quote!(#item #err).into()
        }
    }
}
