//! The annotated item, read into structures that borrow the original syntax
//! (so errors and generated checks can point at the user's own tokens).

use std::collections::HashSet;

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, ExprPath, Fields, Generics, Ident, Token, Type, token};

use crate::attr::{self, FieldAttr, MethodHook};
use crate::ctxt::Ctxt;
use crate::kind::HookKind;

/// The item `#[openai_client]` is on.
pub(crate) struct Input<'a> {
    pub(crate) original: &'a DeriveInput,
    pub(crate) shape: Shape<'a>,
    /// Hooks listed in `#[openai_client(...)]`, in written order.
    pub(crate) methods: Vec<MethodHook>,
    /// Named fields, top to bottom (empty for any other shape).
    pub(crate) fields: Vec<Field<'a>>,
}

/// What kind of item it is: only `Named` can be a client.
pub(crate) enum Shape<'a> {
    Named,
    Tuple(&'a token::Paren),
    Unit,
    Enum(&'a Token![enum]),
    Union(&'a Token![union]),
}

/// One named field.
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) attrs: Vec<FieldAttr<'a>>,
    /// Whether the type mentions a generic parameter of the struct: such a
    /// type gets a `where` bound; others get a compile-time check.
    pub(crate) generic: bool,
}

/// One hook to run, from a field or a method.
pub(crate) struct Hook<'a> {
    pub(crate) kind: HookKind,
    /// Name in errors and tripwires.
    pub(crate) name: String,
    /// Where the name is written (or the field or method that gives it).
    pub(crate) name_span: Span,
    pub(crate) fail_open: bool,
    pub(crate) target: Target<'a>,
}

/// Where a hook lives.
pub(crate) enum Target<'a> {
    Field(&'a Field<'a>),
    Method(&'a ExprPath),
}

impl<'a> Input<'a> {
    pub(crate) fn from_syn(node: &'a DeriveInput, methods: Vec<MethodHook>, cx: &Ctxt) -> Self {
        let (shape, fields) = match &node.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => {
                    let scope = Params::new(&node.generics);
                    let fields = named
                        .named
                        .iter()
                        .filter_map(|f| {
                            Some(Field {
                                ident: f.ident.as_ref()?,
                                ty: &f.ty,
                                attrs: attr::field_attrs(&f.attrs, cx),
                                generic: scope.mentioned_in(&f.ty),
                            })
                        })
                        .collect();
                    (Shape::Named, fields)
                }
                Fields::Unnamed(unnamed) => (Shape::Tuple(&unnamed.paren_token), Vec::new()),
                Fields::Unit => (Shape::Unit, Vec::new()),
            },
            Data::Enum(data) => (Shape::Enum(&data.enum_token), Vec::new()),
            Data::Union(data) => (Shape::Union(&data.union_token), Vec::new()),
        };
        Self {
            original: node,
            shape,
            methods,
            fields,
        }
    }

    pub(crate) fn ident(&self) -> &'a Ident {
        &self.original.ident
    }

    pub(crate) fn generics(&self) -> &'a Generics {
        &self.original.generics
    }

    /// The `#[inner]` field (the first one, if there are several).
    pub(crate) fn inner(&self) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| f.is_inner())
    }

    /// Every hook, in the order hooks of one kind run: the order they are
    /// written, so the struct's method hooks first, then fields top to
    /// bottom (a field's first attribute of each kind; more are errors).
    pub(crate) fn hooks(&self) -> Vec<Hook<'_>> {
        let methods = self.methods.iter().map(|m| {
            let method = m.path.path.segments.last().map(|s| &s.ident);
            let (name, name_span) = match (&m.opts.name, method) {
                (Some(lit), _) => (lit.value(), lit.span()),
                (None, Some(ident)) => (ident.unraw().to_string(), ident.span()),
                (None, None) => (String::new(), m.key.span()),
            };
            Hook {
                kind: m.kind,
                name,
                name_span,
                fail_open: m.opts.fail_open,
                target: Target::Method(&m.path),
            }
        });
        let fields = self.fields.iter().flat_map(|f| {
            HookKind::ALL.into_iter().filter_map(move |kind| {
                let opts = f.hook(kind)?;
                let (name, name_span) = match &opts.name {
                    Some(lit) => (lit.value(), lit.span()),
                    None => (f.ident.unraw().to_string(), f.ident.span()),
                };
                Some(Hook {
                    kind,
                    name,
                    name_span,
                    fail_open: opts.fail_open,
                    target: Target::Field(f),
                })
            })
        });
        methods.chain(fields).collect()
    }
}

impl Field<'_> {
    pub(crate) fn is_inner(&self) -> bool {
        self.attrs.iter().any(|a| matches!(a, FieldAttr::Inner(_)))
    }

    /// The options of the field's (first) hook attribute of `kind`.
    pub(crate) fn hook(&self, kind: HookKind) -> Option<&attr::HookOpts> {
        self.attrs.iter().find_map(|a| match a {
            FieldAttr::Hook { kind: k, opts, .. } if *k == kind => Some(opts),
            _ => None,
        })
    }
}

/// The struct's generic parameters, to tell which field types mention one.
struct Params {
    types: HashSet<String>,
    lifetimes: HashSet<String>,
}

impl Params {
    fn new(generics: &Generics) -> Self {
        let types = generics
            .type_params()
            .map(|p| p.ident.to_string())
            .chain(generics.const_params().map(|p| p.ident.to_string()))
            .collect();
        let lifetimes = generics
            .lifetimes()
            .map(|p| p.lifetime.ident.to_string())
            .collect();
        Self { types, lifetimes }
    }

    /// Whether `ty` names a parameter (or `Self`). Looks at tokens rather
    /// than the syntax tree: a type can hide a parameter anywhere (in a
    /// path's generic arguments, a trait object's bounds, an array length),
    /// and a token is a parameter wherever it appears.
    fn mentioned_in(&self, ty: &Type) -> bool {
        self.scan(ty.to_token_stream())
    }

    fn scan(&self, tokens: TokenStream) -> bool {
        // A lifetime is a `'` punct followed by an ident.
        let mut after_quote = false;
        for tt in tokens {
            let hit = match &tt {
                TokenTree::Group(g) => self.scan(g.stream()),
                TokenTree::Ident(ident) if after_quote => {
                    self.lifetimes.contains(&ident.to_string())
                }
                TokenTree::Ident(ident) => {
                    let name = ident.to_string();
                    name == "Self" || self.types.contains(&name)
                }
                TokenTree::Punct(_) | TokenTree::Literal(_) => false,
            };
            if hit {
                return true;
            }
            after_quote = matches!(&tt, TokenTree::Punct(p) if p.as_char() == '\'');
        }
        false
    }
}
