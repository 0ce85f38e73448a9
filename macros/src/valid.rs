//! What the attributes mean together: the item is a struct with named
//! fields, exactly one `#[inner]`, no hook on it, at most one hook of each
//! kind per field, and distinct hook names. Every problem is recorded; none stops the others
//! from being found.

use std::collections::HashSet;

use crate::ast::{Input, Shape};
use crate::attr::{FieldAttr, HookKind, name_span};
use crate::ctxt::Ctxt;

/// Records every misuse in `input`.
pub(crate) fn check(input: &Input<'_>, cx: &Ctxt) {
    if !check_shape(input, cx) {
        return;
    }
    check_inner(input, cx);
    check_field_roles(input, cx);
    check_names(input, cx);
}

/// Whether the item is a struct with named fields.
fn check_shape(input: &Input<'_>, cx: &Ctxt) -> bool {
    let name = input.ident();
    let example = format!("struct {name} {{ #[inner] client: C, #[pre_request] pii: Pii }}");
    match input.shape {
        Shape::Named => return true,
        Shape::Enum(token) => cx.error_spanned_by(
            token,
            format!("`#[openai_client]` goes on a struct, not an enum: write `{example}`"),
        ),
        Shape::Union(token) => cx.error_spanned_by(
            token,
            format!("`#[openai_client]` goes on a struct, not a union: write `{example}`"),
        ),
        Shape::Tuple(paren) => cx.error_at(
            paren.span.join(),
            format!(
                "`#[openai_client]` needs named fields (the client and each hook are named by their field): write `{example}`"
            ),
        ),
        Shape::Unit => cx.error_spanned_by(
            name,
            format!(
                "`#[openai_client]` needs a field holding the wrapped client: write `{example}`"
            ),
        ),
    }
    false
}

/// Exactly one `#[inner]`.
fn check_inner(input: &Input<'_>, cx: &Ctxt) {
    let mut first = None;
    for field in &input.fields {
        for attr in &field.attrs {
            let FieldAttr::Inner(attr) = attr else {
                continue;
            };
            match first {
                None => first = Some(field.ident),
                Some(f) if f == field.ident => cx.error_at(
                    name_span(attr),
                    format!("`#[inner]` is given twice on `{f}`: remove one"),
                ),
                Some(f) => cx.error_at(
                    name_span(attr),
                    format!(
                        "only one field can be `#[inner]`, and `{f}` already is (a generated client wraps one client): remove this `#[inner]` to make `{}` a plain field",
                        field.ident
                    ),
                ),
            }
        }
    }
    if first.is_none() {
        let name = input.ident();
        cx.error_spanned_by(
            name,
            format!(
                "`{name}` has no `#[inner]` field: add `#[inner]` to the field holding the wrapped client, e.g. `#[inner] client: async_openai::Client<OpenAIConfig>`"
            ),
        );
    }
}

/// A field is the inner client, or hooks (at most one of each kind), or
/// plain.
fn check_field_roles(input: &Input<'_>, cx: &Ctxt) {
    for field in &input.fields {
        let name = field.ident;
        let inner = field.is_inner();
        let mut seen = Vec::new();
        for attr in &field.attrs {
            let FieldAttr::Hook { kind, attr, .. } = attr else {
                continue;
            };
            let this = kind.attr_name();
            if inner {
                cx.error_at(
                    name_span(attr),
                    format!(
                        "`{name}` is the `#[inner]` client, so it cannot also be a hook: put the `#[{this}]` hook in a field of its own"
                    ),
                );
            } else if seen.contains(kind) {
                cx.error_at(
                    name_span(attr),
                    format!(
                        "`#[{this}]` is written twice on `{name}`, and a hook runs once per stage: keep one, with all its options, e.g. `#[{this}(fail_open, name = \"...\")]`"
                    ),
                );
            } else {
                seen.push(*kind);
            }
        }
    }
}

/// Errors and tripwires name their hook: two hooks of one kind must not
/// share a name.
fn check_names(input: &Input<'_>, cx: &Ctxt) {
    for kind in HookKind::ALL {
        let mut seen = HashSet::new();
        for hook in input.hooks(kind) {
            if !seen.insert(hook.name.clone()) {
                cx.error_at(
                    hook.name_span,
                    format!(
                        "two `{}` hooks are named `{}`, so errors could not tell them apart: give one a different name with `name = \"...\"`",
                        kind.attr_name(),
                        hook.name
                    ),
                );
            }
        }
    }
}
