//! Procedural macros for `openai-hooks`. Use them through that crate.

use proc_macro::TokenStream;

/// See `openai_hooks::openai_client`.
#[proc_macro_attribute]
pub fn openai_client(_args: TokenStream, input: TokenStream) -> TokenStream {
    input
}
