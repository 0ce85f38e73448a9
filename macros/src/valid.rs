//! What the attributes mean together: the item is a struct with named
//! fields, exactly one `#[inner]`, no hook on it, at most one hook of each
//! kind per field, and distinct hook names. Every problem is recorded; none
//! stops the others from being found.

use std::collections::HashSet;

use crate::ast::{Hook, Input, Shape};
use crate::attr::{FieldAttr, name_span};
use crate::ctxt::Ctxt;

/// Records every misuse in `input`, whose hooks are `hooks`.
pub(crate) fn check(input: &Input<'_>, hooks: &[Hook<'_>], cx: &Ctxt) {
    if !check_shape(input, cx) {
        return;
    }
    check_inner(input, cx);
    check_field_roles(input, cx);
    check_names(hooks, cx);
}

/// Whether the item is a struct with named fields.
fn check_shape(input: &Input<'_>, cx: &Ctxt) -> bool {
    let name = input.ident();
    let example = format!("`struct {name} {{ #[inner] client: C }}`");
    match input.shape {
        Shape::Named => return true,
        Shape::Enum(token) => cx.error_spanned_by(
            token,
            "`#[openai_client]` cannot be on an enum; use a struct with named fields",
        ),
        Shape::Union(token) => cx.error_spanned_by(
            token,
            "`#[openai_client]` cannot be on a union; use a struct with named fields",
        ),
        Shape::Tuple(paren) => cx.error_at(
            paren.span.join(),
            format!("`#[openai_client]` needs named fields; write {example}"),
        ),
        Shape::Unit => cx.error_spanned_by(
            name,
            format!("`{name}` has no field for the client; write {example}"),
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
                    format!("`#[inner]` appears twice on `{f}`; remove one"),
                ),
                Some(f) => cx.error_at(
                    name_span(attr),
                    format!("`#[inner]` is already on `{f}`; keep it on one field"),
                ),
            }
        }
    }
    if first.is_none() {
        let name = input.ident();
        cx.error_spanned_by(
            name,
            format!(
                "`{name}` has no `#[inner]` field; put `#[inner]` on the field holding the client"
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
                    format!("the `#[inner]` field cannot be a hook; move `#[{this}]` to a field of its own"),
                );
            } else if seen.contains(kind) {
                cx.error_at(
                    name_span(attr),
                    format!(
                        "`#[{this}]` appears twice on `{name}`; keep one, with all its options"
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
fn check_names(hooks: &[Hook<'_>], cx: &Ctxt) {
    let mut seen = HashSet::new();
    for hook in hooks {
        if !seen.insert((hook.kind.attr_name(), hook.name.as_str())) {
            cx.error_at(
                hook.name_span,
                format!(
                    "two `{}` hooks are named `{}`; rename one with `name = \"...\"`",
                    hook.kind.attr_name(),
                    hook.name
                ),
            );
        }
    }
}
