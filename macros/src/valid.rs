//! Meaning checks on the parsed input; every problem is recorded, none
//! stops the others from being found.

use syn::{Data, Fields};

use crate::ast::Input;
use crate::ctxt::Ctxt;

const SHAPE: &str = "struct Guarded { #[inner] client: C, #[pre_request] pii: Pii, ... }";

pub(crate) fn check(cx: &mut Ctxt, input: &Input<'_>) {
    let item = input.original;
    match &item.data {
        Data::Enum(e) => {
            cx.error_spanned_by(
                e.enum_token,
                format!(
                    "`#[openai_client]` goes on a struct with named fields, not an enum: `{SHAPE}`"
                ),
            );
            return;
        }
        Data::Union(u) => {
            cx.error_spanned_by(
                u.union_token,
                format!(
                    "`#[openai_client]` goes on a struct with named fields, not a union: `{SHAPE}`"
                ),
            );
            return;
        }
        Data::Struct(s) => match &s.fields {
            Fields::Named(_) => {}
            Fields::Unnamed(fields) => {
                cx.error_spanned_by(
                    fields,
                    format!("`#[openai_client]` needs named fields to tell the client from the hooks: `{SHAPE}`"),
                );
                return;
            }
            Fields::Unit => {
                cx.error_spanned_by(
                    &item.ident,
                    format!("`{}` has no fields: add the wrapped client as `#[inner] client: C` and the hooks as fields, as in `{SHAPE}`", item.ident),
                );
                return;
            }
        },
    }

    let inners: Vec<_> = input
        .fields
        .iter()
        .filter(|f| !f.attrs.inner.is_empty())
        .collect();
    match inners.as_slice() {
        [] => cx.error_spanned_by(
            &item.ident,
            format!(
                "`{}` has no `#[inner]` field: mark the field that holds the wrapped client, as in `#[inner] client: async_openai::Client<OpenAIConfig>`",
                item.ident
            ),
        ),
        [first, rest @ ..] => {
            for again in rest {
                cx.error_spanned_by(
                    &again.attrs.inner[0],
                    format!(
                        "only one field can be `#[inner]`, and `{}` already is: wrap one client, and make the other a plain field or a hook",
                        first.ident
                    ),
                );
            }
        }
    }

    for field in &input.fields {
        for extra in field.attrs.inner.iter().skip(1) {
            cx.error_spanned_by(extra, "`#[inner]` is written twice on this field");
        }
        if !field.attrs.inner.is_empty() {
            for hook in &field.attrs.hooks {
                cx.error_spanned_by(
                    &hook.attr,
                    format!(
                        "the `#[inner]` field is the wrapped client, not a hook: put `#[{}]` on a field of its own",
                        hook.kind.name()
                    ),
                );
            }
        }
        for (i, hook) in field.attrs.hooks.iter().enumerate() {
            if field.attrs.hooks[..i].iter().any(|h| h.kind == hook.kind) {
                cx.error_spanned_by(
                    &hook.attr,
                    format!(
                        "`#[{}]` is written twice on `{}`: a hook runs once per stage",
                        hook.kind.name(),
                        field.ident
                    ),
                );
            }
        }
    }
}
