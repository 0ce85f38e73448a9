//! The user's struct, parsed: borrowed from the input so spans stay the
//! user's own.

use proc_macro2::TokenStream;
use syn::{Data, DeriveInput, Fields, Ident, Type};

use crate::attr::{self, FieldAttrs, MethodHook};
use crate::ctxt::Ctxt;

/// The struct and what its attributes say.
pub(crate) struct Input<'a> {
    pub(crate) original: &'a DeriveInput,
    /// Named fields; empty when the item is not a struct with named fields
    /// (`valid` reports that).
    pub(crate) fields: Vec<Field<'a>>,
    pub(crate) methods: Vec<MethodHook>,
}

/// One named field.
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) attrs: FieldAttrs,
}

impl<'a> Input<'a> {
    pub(crate) fn from_syn(cx: &mut Ctxt, args: TokenStream, original: &'a DeriveInput) -> Self {
        let methods = attr::struct_args(cx, args);
        let fields = match &original.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => named
                    .named
                    .iter()
                    .filter_map(|f| {
                        Some(Field {
                            ident: f.ident.as_ref()?,
                            ty: &f.ty,
                            attrs: attr::field_attrs(cx, &f.attrs),
                        })
                    })
                    .collect(),
                Fields::Unnamed(_) | Fields::Unit => Vec::new(),
            },
            Data::Enum(_) | Data::Union(_) => Vec::new(),
        };
        Self {
            original,
            fields,
            methods,
        }
    }

    /// The `#[inner]` field, when there is exactly one.
    pub(crate) fn inner(&self) -> Option<&Field<'a>> {
        let mut inner = self.fields.iter().filter(|f| !f.attrs.inner.is_empty());
        let first = inner.next()?;
        inner.next().is_none().then_some(first)
    }
}
