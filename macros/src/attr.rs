//! Reading `#[openai_client(...)]`, `#[inner]` and the hook attributes.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, ExprPath, LitStr};

use crate::ctxt::Ctxt;

/// The three hook kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookKind {
    PreRequest,
    PostResponse,
    OnChunk,
}

impl HookKind {
    pub(crate) const ALL: [HookKind; 3] = [Self::PreRequest, Self::PostResponse, Self::OnChunk];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::PreRequest => "pre_request",
            Self::PostResponse => "post_response",
            Self::OnChunk => "on_chunk",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A hook attribute on a field: `#[pre_request]`, `#[on_chunk(fail_open)]`,
/// `#[post_response(name = "audit")]`.
pub(crate) struct HookAttr {
    pub(crate) kind: HookKind,
    /// The attribute as written, for error spans.
    pub(crate) attr: Attribute,
    pub(crate) fail_open: bool,
    pub(crate) name: Option<LitStr>,
}

/// What a field's attributes say about it.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    /// Each `#[inner]` on the field, as written.
    pub(crate) inner: Vec<Attribute>,
    pub(crate) hooks: Vec<HookAttr>,
}

/// A method hook named in `#[openai_client(...)]`.
pub(crate) struct MethodHook {
    pub(crate) kind: HookKind,
    pub(crate) path: ExprPath,
    pub(crate) fail_open: bool,
}

/// Whether `attr` is one this macro reads (and strips) on fields.
pub(crate) fn is_helper(attr: &Attribute) -> bool {
    let Some(ident) = attr.path().get_ident() else {
        return false;
    };
    let name = ident.to_string();
    name == "inner" || HookKind::from_name(&name).is_some() || near_miss(&name).is_some()
}

/// The hook attribute `name` most likely meant, if it is a near miss
/// (`pre_requst`, `onchunk`, `PreRequest`, `post_responses`, `innr`).
pub(crate) fn near_miss(name: &str) -> Option<&'static str> {
    let squash = |s: &str| s.to_ascii_lowercase().replace(['_', '-'], "");
    let wanted = squash(name);
    ["inner", "pre_request", "post_response", "on_chunk"]
        .into_iter()
        .filter(|&candidate| candidate != name)
        .find(|candidate| {
            let c = squash(candidate);
            c == wanted || edit_distance(&c, &wanted) <= 2
        })
}

/// Levenshtein distance; inputs are a few characters long.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Reads a field's helper attributes.
pub(crate) fn field_attrs(cx: &mut Ctxt, attrs: &[Attribute]) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for attr in attrs {
        let Some(ident) = attr.path().get_ident() else {
            continue;
        };
        let name = ident.to_string();
        if name == "inner" {
            if let Err(e) = attr.meta.require_path_only() {
                cx.error_spanned_by(
                    &attr.meta,
                    format!("`#[inner]` takes no arguments; write `#[inner]` ({e})"),
                );
            }
            out.inner.push(attr.clone());
        } else if let Some(kind) = HookKind::from_name(&name) {
            let mut hook = HookAttr {
                kind,
                attr: attr.clone(),
                fail_open: false,
                name: None,
            };
            if let syn::Meta::List(_) = attr.meta {
                let parsed = attr.parse_nested_meta(|meta| hook_argument(&meta, &mut hook));
                if let Err(e) = parsed {
                    cx.syn_error(e);
                }
            } else if let syn::Meta::NameValue(nv) = &attr.meta {
                cx.error_spanned_by(
                    nv,
                    format!(
                        "`#[{name}]` takes no value; write `#[{name}]`, `#[{name}(fail_open)]` or `#[{name}(name = \"...\")]`"
                    ),
                );
            }
            out.hooks.push(hook);
        } else if let Some(meant) = near_miss(&name) {
            cx.error_spanned_by(
                attr.path(),
                format!("unknown hook attribute `#[{name}]`; did you mean `#[{meant}]`?"),
            );
        }
    }
    out
}

fn hook_argument(meta: &ParseNestedMeta<'_>, hook: &mut HookAttr) -> syn::Result<()> {
    if meta.path.is_ident("fail_open") {
        hook.fail_open = true;
        Ok(())
    } else if meta.path.is_ident("name") {
        hook.name = Some(meta.value()?.parse()?);
        Ok(())
    } else {
        let got = path_text(&meta.path);
        let hint = if edit_distance(&got, "fail_open") <= 3 {
            " (did you mean `fail_open`?)"
        } else {
            ""
        };
        Err(meta.error(format!(
            "unknown hook argument `{got}`{hint}; expected `fail_open` or `name = \"...\"`"
        )))
    }
}

fn path_text(path: &syn::Path) -> String {
    quote::quote!(#path).to_string().replace(' ', "")
}

/// Reads `#[openai_client(pre_request = Self::stamp, on_chunk(Self::count, fail_open))]`.
pub(crate) fn struct_args(cx: &mut Ctxt, args: TokenStream) -> Vec<MethodHook> {
    let mut hooks = Vec::new();
    let parser = syn::meta::parser(|meta| {
        let key = path_text(&meta.path);
        let Some(kind) = HookKind::from_name(&key) else {
            let hint = near_miss(&key)
                .filter(|m| *m != "inner")
                .map(|m| format!(" (did you mean `{m}`?)"))
                .unwrap_or_default();
            return Err(meta.error(format!(
                "unknown argument `{key}`{hint}; expected `pre_request`, `post_response` or `on_chunk`, as in `pre_request = Self::method`"
            )));
        };
        if meta.input.peek(syn::Token![=]) {
            let path = method_path(meta.value()?, kind)?;
            hooks.push(MethodHook {
                kind,
                path,
                fail_open: false,
            });
            return Ok(());
        }
        if meta.input.peek(syn::token::Paren) {
            let mut path = None;
            let mut fail_open = false;
            meta.parse_nested_meta(|inner| {
                if inner.path.is_ident("fail_open") {
                    fail_open = true;
                } else if path.is_none() {
                    path = Some(ExprPath {
                        attrs: Vec::new(),
                        qself: None,
                        path: inner.path.clone(),
                    });
                } else {
                    return Err(inner.error(format!(
                        "expected `{key}(Self::method)` or `{key}(Self::method, fail_open)`"
                    )));
                }
                Ok(())
            })?;
            let Some(path) = path else {
                return Err(
                    meta.error(format!("name the method: `{key}(Self::method, fail_open)`"))
                );
            };
            hooks.push(MethodHook {
                kind,
                path,
                fail_open,
            });
            return Ok(());
        }
        Err(meta.error(format!(
            "expected `{key} = Self::method` or `{key}(Self::method, fail_open)`"
        )))
    });
    if let Err(e) = syn::parse::Parser::parse2(parser, args) {
        cx.syn_error(e);
    }
    hooks
}

fn method_path(input: syn::parse::ParseStream<'_>, kind: HookKind) -> syn::Result<ExprPath> {
    let expr: syn::Expr = input.parse()?;
    match expr {
        syn::Expr::Path(p) => Ok(p),
        other => Err(syn::Error::new_spanned(
            other,
            format!(
                "expected a method path, as in `{} = Self::method`",
                kind.name()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses() {
        assert_eq!(near_miss("pre_requst"), Some("pre_request"));
        assert_eq!(near_miss("onchunk"), Some("on_chunk"));
        assert_eq!(near_miss("PostResponse"), Some("post_response"));
        assert_eq!(near_miss("innr"), Some("inner"));
        assert_eq!(near_miss("serde"), None);
        assert_eq!(near_miss("doc"), None);
        assert_eq!(near_miss("pre_request"), None);
    }
}
