//! Procedural macros for `openai-hooks`. Use them through that crate: the
//! generated code names `::openai_hooks::__private` only.
//!
//! The pipeline follows thiserror's: [`ast`] parses the struct (keeping the
//! user's tokens for spans), [`attr`] reads the attributes, [`valid`] checks
//! meaning and collects every error, [`expand`] writes code. On error the
//! struct is still emitted, so the user sees the macro's errors and nothing
//! else.

mod ast;
mod attr;
mod ctxt;
mod expand;
mod valid;

use proc_macro::TokenStream;

/// See `openai_hooks::openai_client` for the documentation.
#[proc_macro_attribute]
pub fn openai_client(args: TokenStream, input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::openai_client(args.into(), &input).into()
}
