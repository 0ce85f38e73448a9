//! A checked client: what expansion needs, computed once after validation.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Generics, Ident, Path};

use crate::ast::{Field, Hook, Input};
use crate::kind::{Api, HookKind};

/// A struct that passed every check.
pub(crate) struct Model<'i, 'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) generics: &'a Generics,
    /// Every named field.
    pub(crate) fields: &'i [Field<'a>],
    /// The one `#[inner]` field.
    pub(crate) inner: &'i Field<'a>,
    /// Every hook, each kind's in the order they run.
    hooks: Vec<Hook<'i>>,
    /// `<crate>::__private`, where generated code finds the runtime.
    private: TokenStream,
    /// The APIs the client serves: one impl each.
    pub(crate) apis: Vec<Api>,
}

impl<'i, 'a> Model<'i, 'a> {
    /// `None` without an `#[inner]` field (which validation reports).
    pub(crate) fn new(
        input: &'i Input<'a>,
        hooks: Vec<Hook<'i>>,
        krate: &Path,
        apis: Vec<Api>,
    ) -> Option<Self> {
        Some(Self {
            ident: input.ident(),
            generics: input.generics(),
            fields: &input.fields,
            inner: input.inner()?,
            hooks,
            private: quote!(#krate::__private),
            apis,
        })
    }

    /// The hooks of `kind`, in the order they run.
    pub(crate) fn hooks(&self, kind: HookKind) -> impl Iterator<Item = &Hook<'i>> {
        self.hooks.iter().filter(move |h| h.kind == kind)
    }

    /// The path to the runtime's items for generated code.
    pub(crate) fn private(&self) -> &TokenStream {
        &self.private
    }
}
