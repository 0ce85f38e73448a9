//! Reading the macro's attributes: the arguments of `#[openai_client(...)]`
//! (method hooks, `crate = "..."`), and `#[inner]` and the hook attributes
//! (`#[pre_request]`, ...: one per [`HookKind`]) on fields.
//!
//! Only syntax is checked here; what the attributes mean together (one
//! `#[inner]`, one hook per field, ...) is checked in `valid.rs`.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, Expr, ExprPath, Ident, LitStr, Meta, Path, Token, token};

use crate::ctxt::Ctxt;
use crate::kind::{Api, HookKind};

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
const FIELD_ATTRS: [&str; 4] = {
    let [a, b, c] = HookKind::attr_names();
    ["inner", a, b, c]
};

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
                    "`#[inner]` takes no arguments; write `#[inner]`",
                );
            }
            // Still the inner field, so this is the only error.
            out.push(FieldAttr::Inner(attr));
        } else if let Some(kind) = kind_named(ident) {
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
            format!("hook options go in parentheses; write `#[{name}(name = \"...\")]`"),
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
                return Err(syn::Error::new(
                    key.span(),
                    "`fail_open` is given twice; remove one",
                ));
            }
            opts.fail_open = true;
        }
        "name" => {
            if opts.name.is_some() {
                return Err(syn::Error::new(
                    key.span(),
                    "`name` is given twice; keep one",
                ));
            }
            let how = "expected the hook's name as a string: `name = \"keywords\"`";
            input
                .parse::<Token![=]>()
                .map_err(|_| syn::Error::new(key.span(), how))?;
            let name: LitStr = input.parse().map_err(|e| syn::Error::new(e.span(), how))?;
            if name.value().is_empty() {
                return Err(syn::Error::new(
                    name.span(),
                    "a hook's name cannot be empty; name it, or remove `name = \"\"`",
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
            let msg = match near_miss(other, &OPTIONS) {
                Some(right) => format!("unknown hook option `{other}`: did you mean `{right}`?"),
                None => format!(
                    "unknown hook option `{other}`; a hook takes `fail_open` and `name = \"...\"`"
                ),
            };
            return Err(syn::Error::new(key.span(), msg));
        }
    }
    Ok(())
}

/// The arguments of `#[openai_client(...)]`.
pub(crate) struct StructArgs {
    /// Hooks listed as arguments, in written order.
    pub(crate) methods: Vec<MethodHook>,
    pub(crate) krate: Krate,
    /// The APIs to implement (`api = ...`; Chat alone by default).
    pub(crate) apis: Vec<Api>,
}

/// The path generated code reaches the runtime by.
pub(crate) enum Krate {
    /// No `crate = "..."`: `::openai_hooks`.
    Default,
    /// `crate = "path"`, for a renamed or re-exported dependency.
    Given(Path),
    /// A `crate = ...` that is not a path (already reported).
    Invalid,
}

impl Krate {
    /// The path, unless the argument was invalid.
    pub(crate) fn path(&self) -> Option<Path> {
        match self {
            Self::Default => Some(syn::parse_quote!(::openai_hooks)),
            Self::Given(path) => Some(path.clone()),
            Self::Invalid => None,
        }
    }
}

/// The kind whose attribute (or argument) is `ident`.
fn kind_named(ident: &Ident) -> Option<HookKind> {
    HookKind::ALL.into_iter().find(|k| ident == k.attr_name())
}

/// Reads `#[openai_client(pre_request = Self::a, on_chunk(Self::b,
/// fail_open), crate = "path")]`. Each argument is read on its own, so a
/// malformed one does not hide the others.
pub(crate) fn struct_args(args: TokenStream, cx: &Ctxt) -> StructArgs {
    let mut out = StructArgs {
        methods: Vec::new(),
        krate: Krate::Default,
        apis: vec![Api::Chat],
    };
    let mut crate_key: Option<Ident> = None;
    let mut api_key: Option<Ident> = None;
    for arg in split_args(args) {
        match parse_struct_arg.parse2(arg) {
            Ok(Arg::Method(hook)) => out.methods.push(hook),
            Ok(Arg::Api(key, apis)) => {
                if api_key.is_some() {
                    cx.error_spanned_by(&key, "`api` is given twice; remove one");
                    continue;
                }
                api_key = Some(key);
                out.apis = apis;
            }
            Ok(Arg::Crate(key, krate)) => {
                if crate_key.is_some() {
                    cx.error_spanned_by(&key, "`crate` is given twice; remove one");
                    continue;
                }
                crate_key = Some(key);
                match krate {
                    Ok(path) => out.krate = Krate::Given(path),
                    Err(err) => {
                        cx.syn_error(err);
                        out.krate = Krate::Invalid;
                    }
                }
            }
            Err(err) => cx.syn_error(err),
        }
    }
    out
}

/// The arguments between top-level commas (a trailing comma is allowed).
fn split_args(args: TokenStream) -> Vec<TokenStream> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for tt in args {
        if matches!(&tt, TokenTree::Punct(p) if p.as_char() == ',') {
            out.push(current.drain(..).collect());
        } else {
            current.push(tt);
        }
    }
    if !current.is_empty() {
        out.push(current.into_iter().collect());
    }
    out
}

/// One struct argument.
enum Arg {
    Method(MethodHook),
    /// The `api` key and the APIs it selects.
    Api(Ident, Vec<Api>),
    /// The `crate` key, and the path or what was wrong with it.
    Crate(Ident, syn::Result<Path>),
}

fn parse_struct_arg(input: ParseStream<'_>) -> syn::Result<Arg> {
    let key = input.call(Ident::parse_any).map_err(|e| {
        syn::Error::new(
            e.span(),
            "expected an argument, e.g. `pre_request = Self::method` or `crate = \"path\"`",
        )
    })?;
    if key == "api" {
        return api_arg(input, key);
    }
    if key == "crate" {
        // What follows is taken whole: a bad path is reported (as the
        // argument's error), not left as unexpected tokens.
        let rest: TokenStream = input.parse()?;
        let path = (|input: ParseStream<'_>| crate_path(input, &key)).parse2(rest);
        return Ok(Arg::Crate(key, path));
    }
    let Some(kind) = kind_named(&key) else {
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
            format!("`{key}` needs a method; write `{key} = Self::method`"),
        ));
    };
    if !input.is_empty() {
        return Err(input.error("expected `,` between `#[openai_client]` arguments"));
    }
    Ok(Arg::Method(hook))
}

/// `= chat`, `= responses` or `= both` after `api`.
fn api_arg(input: ParseStream<'_>, key: Ident) -> syn::Result<Arg> {
    let names: Vec<&str> = Api::ALL.iter().map(|a| a.spec().arg).collect();
    let how = format!(
        "expected `api = {}` or `api = both`",
        names.join("`, `api = ")
    );
    input
        .parse::<Token![=]>()
        .map_err(|e| syn::Error::new(e.span(), &how))?;
    let value = input
        .call(Ident::parse_any)
        .map_err(|e| syn::Error::new(e.span(), &how))?;
    let apis = if value == "both" {
        Api::ALL.to_vec()
    } else if let Some(api) = Api::ALL.into_iter().find(|a| value == a.spec().arg) {
        vec![api]
    } else {
        return Err(syn::Error::new(
            value.span(),
            format!("unknown API `{value}`; {how}"),
        ));
    };
    if !input.is_empty() {
        return Err(input.error("expected `,` between `#[openai_client]` arguments"));
    }
    Ok(Arg::Api(key, apis))
}

/// `= "path"` after `crate`: a module path, as `use` would take it.
fn crate_path(input: ParseStream<'_>, key: &Ident) -> syn::Result<Path> {
    let how = "expected the crate's path in quotes, e.g. `crate = \"openai_hooks\"`";
    if input.parse::<Option<Token![=]>>()?.is_none() {
        return Err(syn::Error::new(key.span(), how));
    }
    let lit: LitStr = input.parse().map_err(|e| syn::Error::new(e.span(), how))?;
    if !input.is_empty() {
        return Err(input.error("expected `,` between `#[openai_client]` arguments"));
    }
    let value = lit.value();
    lit.parse_with(Path::parse_mod_style).map_err(|_| {
        let shown = if value.is_empty() { "\"\"" } else { &value };
        let fix = if value.contains('-') {
            format!("write `{}`", value.replace('-', "_"))
        } else {
            "write it as in a `use`, e.g. `crate = \"openai_hooks\"`".to_owned()
        };
        syn::Error::new(lit.span(), format!("`{shown}` is not a crate path; {fix}"))
    })
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
    let kinds = HookKind::attr_names();
    let msg = if name == "inner" {
        "`inner` is not an argument; put `#[inner]` on the field holding the client".to_owned()
    } else if let Some(right) = near_miss(&name, &kinds) {
        format!("unknown argument `{name}`: did you mean `{right}`?")
    } else {
        let listed: Vec<String> = kinds.iter().map(|k| format!("`{k}`")).collect();
        format!(
            "unknown argument `{name}`; expected {}, `api` or `crate`",
            listed.join(", ")
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
