//! Reading the macro's attributes: the method hooks listed in
//! `#[openai_client(...)]`, and `#[inner]` / `#[pre_request]` /
//! `#[post_response]` / `#[on_chunk]` on fields.
//!
//! Only syntax is checked here; what the attributes mean together (one
//! `#[inner]`, one hook per field, ...) is checked in `valid.rs`.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, Expr, ExprPath, Ident, LitStr, Meta, Token, token};

use crate::ctxt::Ctxt;

/// The three kinds of hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookKind {
    PreRequest,
    PostResponse,
    OnChunk,
}

impl HookKind {
    pub(crate) const ALL: [Self; 3] = [Self::PreRequest, Self::PostResponse, Self::OnChunk];

    /// The attribute (and struct argument) that declares a hook of this kind.
    pub(crate) fn attr_name(self) -> &'static str {
        match self {
            Self::PreRequest => "pre_request",
            Self::PostResponse => "post_response",
            Self::OnChunk => "on_chunk",
        }
    }

    fn from_ident(ident: &Ident) -> Option<Self> {
        Self::ALL.into_iter().find(|k| ident == k.attr_name())
    }
}

/// Options a hook takes: `fail_open`, `name = "..."`.
#[derive(Default)]
pub(crate) struct HookOpts {
    /// Set when the hook is skipped (not fatal) if it fails.
    pub(crate) fail_open: bool,
    /// The name used in errors and tripwires, when not the field's or
    /// method's own name.
    pub(crate) name: Option<LitStr>,
}

/// A hook written as a method: `pre_request = Self::stamp`.
pub(crate) struct MethodHook {
    pub(crate) kind: HookKind,
    /// The `pre_request` key, for errors.
    pub(crate) key: Ident,
    pub(crate) path: ExprPath,
    pub(crate) opts: HookOpts,
}

/// A field attribute of this macro.
pub(crate) enum FieldAttr<'a> {
    /// `#[inner]`: the wrapped client.
    Inner(&'a Attribute),
    /// `#[pre_request]`, `#[post_response]` or `#[on_chunk]`.
    Hook {
        kind: HookKind,
        opts: HookOpts,
        attr: &'a Attribute,
    },
}

/// Every attribute name this macro reads on fields.
const FIELD_ATTRS: [&str; 4] = ["inner", "pre_request", "post_response", "on_chunk"];

/// Hook options, for suggestions.
const OPTIONS: [&str; 2] = ["fail_open", "name"];

/// Whether `attr` is this macro's (or a misspelling of one of them, already
/// reported): such attributes are removed from the struct, since rustc
/// would not know them.
pub(crate) fn is_helper(attr: &Attribute) -> bool {
    attr.path().get_ident().is_some_and(|ident| {
        let name = ident.unraw().to_string();
        FIELD_ATTRS.contains(&name.as_str()) || near_miss(&name, &FIELD_ATTRS).is_some()
    })
}

/// Reads the macro's attributes on one field, reporting malformed and
/// misspelled ones.
pub(crate) fn field_attrs<'a>(attrs: &'a [Attribute], cx: &Ctxt) -> Vec<FieldAttr<'a>> {
    let mut out = Vec::new();
    for attr in attrs {
        let Some(ident) = attr.path().get_ident() else {
            continue;
        };
        if ident == "inner" {
            if !matches!(attr.meta, Meta::Path(_)) {
                cx.error_spanned_by(
                    &attr.meta,
                    "`#[inner]` takes no arguments: write `#[inner]`",
                );
            }
            // Still the inner field, so this is the only error.
            out.push(FieldAttr::Inner(attr));
        } else if let Some(kind) = HookKind::from_ident(ident) {
            match hook_opts(attr, kind) {
                Ok(opts) => out.push(FieldAttr::Hook { kind, opts, attr }),
                Err(err) => cx.syn_error(err),
            }
        } else if let Some(right) = near_miss(&ident.unraw().to_string(), &FIELD_ATTRS) {
            cx.error_spanned_by(
                ident,
                format!("unknown attribute `#[{ident}]`: did you mean `#[{right}]`?"),
            );
        }
    }
    out
}

/// Options of `#[pre_request]`, `#[pre_request(fail_open, name = "...")]`.
fn hook_opts(attr: &Attribute, kind: HookKind) -> syn::Result<HookOpts> {
    let name = kind.attr_name();
    match &attr.meta {
        Meta::Path(_) => Ok(HookOpts::default()),
        Meta::List(list) => list.parse_args_with(parse_opts),
        Meta::NameValue(nv) => Err(syn::Error::new_spanned(
            nv,
            format!(
                "hook options go in parentheses: `#[{name}(fail_open, name = \"...\")]`, or just `#[{name}]`"
            ),
        )),
    }
}

/// `fail_open, name = "..."` in any order, each at most once.
fn parse_opts(input: ParseStream<'_>) -> syn::Result<HookOpts> {
    let mut opts = HookOpts::default();
    while !input.is_empty() {
        parse_opt(input, &mut opts)?;
        if input.is_empty() {
            break;
        }
        input
            .parse::<Token![,]>()
            .map_err(|e| syn::Error::new(e.span(), "expected `,` between hook options"))?;
    }
    Ok(opts)
}

fn parse_opt(input: ParseStream<'_>, opts: &mut HookOpts) -> syn::Result<()> {
    let expected = "expected a hook option: `fail_open` or `name = \"...\"`";
    let key = input
        .call(Ident::parse_any)
        .map_err(|e| syn::Error::new(e.span(), expected))?;
    match key.to_string().as_str() {
        "fail_open" => {
            if opts.fail_open {
                return Err(syn::Error::new(key.span(), "`fail_open` is given twice"));
            }
            opts.fail_open = true;
        }
        "name" => {
            if opts.name.is_some() {
                return Err(syn::Error::new(key.span(), "`name` is given twice"));
            }
            let how = "expected the hook's name as a string: `name = \"keywords\"`";
            input
                .parse::<Token![=]>()
                .map_err(|_| syn::Error::new(key.span(), how))?;
            let name: LitStr = input.parse().map_err(|e| syn::Error::new(e.span(), how))?;
            if name.value().is_empty() {
                return Err(syn::Error::new(
                    name.span(),
                    "a hook's name cannot be empty",
                ));
            }
            opts.name = Some(name);
        }
        "fail_closed" => {
            return Err(syn::Error::new(
                key.span(),
                "hooks fail closed unless marked `fail_open`: remove `fail_closed`",
            ));
        }
        other => {
            let hint = match near_miss(other, &OPTIONS) {
                Some(right) => format!("did you mean `{right}`? "),
                None => String::new(),
            };
            return Err(syn::Error::new(
                key.span(),
                format!(
                    "unknown hook option `{other}`: {hint}a hook takes `fail_open` and `name = \"...\"`"
                ),
            ));
        }
    }
    Ok(())
}

/// Reads `#[openai_client(pre_request = Self::a, on_chunk(Self::b, fail_open))]`.
pub(crate) fn struct_args(args: TokenStream, cx: &Ctxt) -> Vec<MethodHook> {
    match parse_struct_args.parse2(args) {
        Ok(hooks) => hooks,
        Err(err) => {
            cx.syn_error(err);
            Vec::new()
        }
    }
}

fn parse_struct_args(input: ParseStream<'_>) -> syn::Result<Vec<MethodHook>> {
    let mut hooks = Vec::new();
    while !input.is_empty() {
        let key = input.call(Ident::parse_any).map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a method hook: `pre_request = Self::method`, `post_response = Self::method` or `on_chunk = Self::method`",
            )
        })?;
        let Some(kind) = HookKind::from_ident(&key) else {
            return Err(unknown_arg(&key));
        };
        let hook = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            let path = method_path(input, &key)?;
            MethodHook {
                kind,
                key,
                path,
                opts: HookOpts::default(),
            }
        } else if input.peek(token::Paren) {
            let content;
            syn::parenthesized!(content in input);
            let path = method_path(&content, &key)?;
            let opts = if content.is_empty() {
                HookOpts::default()
            } else {
                content.parse::<Token![,]>().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        format!("expected `,` then options: `{key}(Self::method, fail_open)`"),
                    )
                })?;
                parse_opts(&content)?
            };
            MethodHook {
                kind,
                key,
                path,
                opts,
            }
        } else {
            return Err(syn::Error::new(
                key.span(),
                format!(
                    "`{key}` needs the method to run: write `{key} = Self::method` or `{key}(Self::method, fail_open)`"
                ),
            ));
        };
        hooks.push(hook);
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected `,` between `#[openai_client]` arguments",
            )
        })?;
    }
    Ok(hooks)
}

/// The method a struct argument names: a path, not a call or a literal.
fn method_path(input: ParseStream<'_>, key: &Ident) -> syn::Result<ExprPath> {
    let expected = format!("expected the hook's method, e.g. `{key} = Self::method`");
    if input.is_empty() || input.peek(Token![,]) {
        return Err(syn::Error::new(key.span(), expected));
    }
    let expr: Expr = input
        .parse()
        .map_err(|e| syn::Error::new(e.span(), &expected))?;
    match expr {
        Expr::Path(path) if path.qself.is_none() => Ok(path),
        Expr::Call(call) => Err(syn::Error::new_spanned(
            &call.args,
            format!(
                "name the method without calling it: `{key} = {}`",
                quote::ToTokens::to_token_stream(&call.func)
            ),
        )),
        other => Err(syn::Error::new_spanned(other, expected)),
    }
}

fn unknown_arg(key: &Ident) -> syn::Error {
    let name = key.unraw().to_string();
    let msg = if name == "inner" {
        "`inner` is a field attribute: put `#[inner]` on the field holding the wrapped client"
            .to_owned()
    } else if let Some(right) = near_miss(&name, &HookKind::ALL.map(HookKind::attr_name)) {
        format!("unknown argument `{name}`: did you mean `{right}`?")
    } else {
        format!(
            "unknown argument `{name}`: `#[openai_client]` takes method hooks, e.g. `pre_request = Self::method`, `post_response = Self::method`, `on_chunk = Self::method`"
        )
    };
    syn::Error::new(key.span(), msg)
}

/// The name in `candidates` that `name` is most likely a misspelling of:
/// the same up to case and underscores (`#[PreRequest]`, `#[onchunk]`), or
/// a few edits away (one for short names, so `#[index]` is not taken for
/// `#[inner]`). `None` for an exact match.
///
/// Rustc only says "cannot find attribute" for unknown attributes; this is
/// what lets the error name the right one.
pub(crate) fn near_miss(name: &str, candidates: &[&'static str]) -> Option<&'static str> {
    if candidates.contains(&name) {
        return None;
    }
    let squash = |s: &str| s.to_ascii_lowercase().replace(['_', '-'], "");
    let squashed = squash(name);
    if let Some(same) = candidates.iter().find(|c| squash(c) == squashed) {
        return Some(same);
    }
    let lower = name.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, c), *c))
        .filter(|&(d, c)| d <= if c.len() <= 5 { 1 } else { 2 })
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Where an attribute's name is, for errors.
pub(crate) fn name_span(attr: &Attribute) -> Span {
    attr.path()
        .get_ident()
        .map_or_else(|| attr.bracket_token.span.join(), Ident::span)
}

#[cfg(test)]
mod tests {
    use super::{FIELD_ATTRS, near_miss};

    #[test]
    fn near_misses_name_the_right_attribute() {
        for (typo, meant) in [
            ("pre_requst", "pre_request"),
            ("prerequest", "pre_request"),
            ("PreRequest", "pre_request"),
            ("onchunk", "on_chunk"),
            ("on_chunks", "on_chunk"),
            ("post_reponse", "post_response"),
            ("PostResponse", "post_response"),
            ("innr", "inner"),
            ("Inner", "inner"),
        ] {
            assert_eq!(near_miss(typo, &FIELD_ATTRS), Some(meant), "{typo}");
        }
    }

    #[test]
    fn other_attributes_are_left_alone() {
        for other in [
            "pre_request",
            "inner",
            "doc",
            "serde",
            "allow",
            "cfg",
            "index",
            "outer",
            "inline",
            "builder",
        ] {
            assert_eq!(near_miss(other, &FIELD_ATTRS), None, "{other}");
        }
    }
}
