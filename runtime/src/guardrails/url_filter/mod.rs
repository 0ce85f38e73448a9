//! `UrlFilter`: only URLs to allowed places.
//!
//! URLs are read as a browser reads them: the text of each candidate is
//! parsed by the WHATWG URL parser of the `url` crate (IPv4 in every form it
//! takes, percent-encoded hosts, IDNA), and its host compared with the
//! allow-list after IDNA processing.
//!
//! # Tokens
//!
//! The filter reads the folded text (fullwidth forms read as ASCII,
//! zero-width characters gone; see the [guardrails](super) docs) in tokens:
//! runs of printable ASCII and of the non-ASCII characters a host can be
//! made of, letters, digits and combining marks (so `bücher.example` and
//! `пример.рф` are one token), and U+3002 `。` after an ASCII character
//! (IDNA reads it as a dot: `https://example。com`). Whitespace, controls and
//! other non-ASCII characters (punctuation, symbols, emoji, and `。` after a
//! non-ASCII character, which ends a sentence of CJK text) end a token. HTML
//! character references in a token are decoded first (`&#106;` is `j`,
//! `&colon;` is `:`; tabs and line breaks they stand for are dropped, as the
//! URL parser drops them).
//!
//! # Candidates
//!
//! - **Link targets**, read as a browser resolves them against the page: a
//!   markdown link or image destination `[a](…)`, `![a](…)`, `[a](<…>)`, a
//!   reference definition written `[a]:…` (with no space), and the value of
//!   an HTML attribute that holds a URL (`href`, `src`, `action`, `poster`,
//!   `srcset`, … quoted or not). A target with a scheme must have an allowed
//!   one (so `javascript:`, `vbscript:`, `data:`, `file:`, `mailto:` trip
//!   unless allowed); one that starts with two slashes or backslashes
//!   (`//host`, `\\host`) has its host checked; a relative path has no host
//!   of its own and passes.
//! - **A scheme followed by `//`** (`https://…`, `ftp://…`, `HTTPS://…`).
//! - **A special scheme with fewer slashes or with backslashes**:
//!   `https:evil.com`, `https:/evil.com`, `https:\\evil.com`, for `http`,
//!   `https`, `ws`, `wss`, `ftp`; `file:` followed by a slash.
//! - **Active schemes**: `javascript:` and `vbscript:` followed by anything,
//!   `data:` followed by a media type, `,` or `;`: anywhere, in any case.
//! - **Protocol-relative `//host`** after a token's start, a bracket, quote or
//!   other punctuation, when its host is an IP address (dotted) or a domain
//!   with a top-level label as below: `![x](//evil.com/p)` is a target, and
//!   `see //evil.com/p` is one too, but not `// comment` or `a //2`.
//! - **A host without a scheme** at the start of a token (after opening
//!   brackets, quotes and markdown emphasis `*_~`): `www.…`, a dotted IPv4
//!   address, or a domain whose labels are letters, digits and hyphens and
//!   whose top-level label is a top-level domain of the public suffix list
//!   (`psl`; or `xn--…`) and not a common file extension (`main.rs` is a
//!   file, not a host; `window.location` and `df.groupby` are code, not
//!   hosts); the other
//!   labels may hold non-ASCII letters (`bücher.example`, `еxample.com`).
//!   E-mail addresses are not URLs. `_` in a label, or a top-level label of
//!   digits or non-ASCII letters (`пример.рф` without a scheme) make it no
//!   candidate. Letters of another script glued in front of the host, none
//!   of which reads as a Latin letter, are not part of it (`詳細はexample.com`).
//!
//! A candidate's text ends where its context says: the `)` that closes a
//! markdown destination, the closing quote of a quoted one or of an
//! attribute, `>` after `<` or in an unquoted attribute; otherwise the end
//! of the token, or `<`, `>`, `"` or a backtick, less trailing sentence
//! punctuation (`.,;:!?*_~'`, a `。`, closing brackets that close nothing).
//! Candidates do not nest: the walk goes on after each one, so
//! `https://example.com/r?u=https://evil.com` is one URL to `example.com`,
//! as a browser reads it. Where a delimiter ends a candidate and an `@`
//! follows, right after the delimiter (`"https://example.com"@evil.com/`)
//! or, where a markdown autolink may begin (at a token's start, after
//! `*_~(`), in what the autolink (which runs to whitespace or `<`) takes as
//! the same authority (`(https://example.com)@evil.com/`), the reading to
//! that end is judged too.
//!
//! # What trips
//!
//! A candidate trips (is masked, or blocks) when:
//! - its scheme is not allowed (default: `https` only; candidates without a
//!   scheme have none to check): `scheme_not_allowed`;
//! - it has userinfo (`https://user:pass@host`, `https://example.com@evil.com`),
//!   unless allowed, or a backslash before an `@` in its authority (read as
//!   userinfo by other parsers): `userinfo_not_allowed`;
//! - its host is not allowed: `host_not_allowed`, or `confusable_host` when
//!   its UTS #39 skeleton is that of an allowed domain (`еxample.com` with a
//!   Cyrillic `е`, `exarnple.com`), or `mixed_script_host` when a label mixes
//!   scripts beyond what UTS #39 calls highly restrictive (Latin with
//!   Cyrillic, say; Latin with Han and kana is fine);
//! - it is allowed only through `allow_subdomains` or `allow_www` and a label
//!   in front of the allowed domain mixes scripts: `mixed_script_host`.
//!
//! The allow-list holds domains (`www.` in front is allowed too unless
//! [`UrlFilter::allow_www`] says no, and subdomains only with
//! [`UrlFilter::allow_subdomains`]), IP addresses, CIDR ranges, and URLs
//! whose scheme, port and path prefix must then match as well. Entries are
//! parsed the way URLs are: `bücher.example` is `xn--bcher-kva.example`, and
//! matches whichever way the text writes it.
//!
//! A host whose last label runs from ASCII into non-ASCII letters with no
//! dot after (`https://example.comをご覧ください`, a URL followed by
//! Japanese without a space) has a top-level label no registry has; its host
//! is judged without that tail, so an allowed one passes and another trips.
//!
//! # Limits
//!
//! - A URL that no parser accepts (`https://`, a host with characters IDNA
//!   refuses, an unassigned code point) is no URL and passes: a browser
//!   cannot go there either.
//! - Hosts without a scheme are judged only at the start of a token, with
//!   an ASCII top-level label and dotted-decimal IPv4: `os.path` style
//!   words with a top-level label that is not a file extension are judged as
//!   domains (and trip), `пример.рф` and `0x7f.1` without a scheme are not.
//! - A raw tab or line break inside a scheme (`java<TAB>script:`, which an
//!   HTML attribute tolerates) splits the token and the halves are judged
//!   apart; written as a character reference it is decoded. Only the named
//!   references that spell URL syntax are decoded, numeric ones all.
//! - A reference definition with a space before its destination
//!   (`[a]: dest`) and an attribute with spaces around its `=` are read by
//!   the rules of prose, which still catch hosts and active schemes but not
//!   other schemes such as `mailto:`.
//! - `。` after a non-ASCII character ends the token: `https://例え.日本。みんな`
//!   is read as `例え.日本`, where a browser goes to `例え.日本.みんな`. That
//!   matters only for allowed hosts ending in a non-ASCII letter.
//! - A token longer than [`URL_TOKEN_CAP`] is judged in pieces of at most
//!   that much, each once the token is known to go on past it. Candidates
//!   may begin in a piece up to a stop: after the last `,!*|^{}~$)` before
//!   its final [`URL_LOOKAHEAD`] bytes (in its second half), or else
//!   `URL_LOOKAHEAD` bytes before its end. A candidate that begins in the
//!   second half of a piece, before the stop, and runs to the piece's end
//!   is judged from the next piece, which starts at it; otherwise the next
//!   piece starts at the stop or after the last candidate, whichever is
//!   later (so each piece moves on by half a piece at least). A URL is
//!   never split by a piece boundary unless it is longer than half the cap:
//!   then it is judged on what the piece holds of it (its scheme and host
//!   are there unless its authority is longer), the rest goes with it,
//!   masked as one more `<URL>` per piece when it trips, and one whose
//!   authority runs past the piece and does not parse trips (whole, it
//!   might parse to another host). A scheme glued to more than
//!   `URL_LOOKAHEAD` bytes of letters and digits with no stop among them is
//!   cut by the piece boundary: it is not known, so not allowed.
//! - Text that looks like a URL and that no parser takes is looked into for
//!   other candidates; past 32 such in one piece of a token, each trips, so
//!   the work per byte stays bounded.
//! - A chunk hook holds the token in progress: for text without spaces
//!   (CJK) that is up to the next punctuation, at most [`URL_TOKEN_CAP`]
//!   folded bytes.

mod candidates;

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use unicode_security::{RestrictionLevel, RestrictionLevelDetection, skeleton};
use url::{Host, Url};

use crate::guardrails::error::GuardrailError;
use crate::guardrails::scan::engine::{Finding, Scanner, Tally, Treatment};
use crate::guardrails::scan::hooks::{ScanGuard, scan_hooks};
use crate::guardrails::scan::runs::{RunCursor, RunDetector, RunRule, table};
use crate::guardrails::{Check, Guardrail, STAGES_ALL};
use crate::hooks::Stage;
use candidates::{
    Candidate, End, Flow, How, View, autolink_end, breaks, extent, is_scheme_byte, may_hold, walk,
};

/// The longest token judged in one piece, in bytes (a chunk hook holds back
/// at most this much).
pub const URL_TOKEN_CAP: usize = 2048;

/// Of a piece of a token longer than [`URL_TOKEN_CAP`], the bytes at its end
/// where no candidate begins: one that begins there is judged from the next
/// piece, which starts before it.
pub const URL_LOOKAHEAD: usize = 256;

/// What [`UrlFilter`] does with a URL that is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UrlAction {
    /// Stop the call with a tripwire naming the host (the default).
    #[default]
    Block,
    /// Replace the URL with `<URL>` and go on.
    Mask,
}

/// Top-level labels that are far more often file extensions.
const NOT_TLDS: &[&str] = &[
    "py", "js", "ts", "rs", "go", "rb", "md", "txt", "json", "yaml", "yml", "toml", "lock", "html",
    "htm", "css", "csv", "xml", "log", "ini", "cfg", "conf", "sh", "java", "cpp", "hpp", "php",
    "png", "jpg", "jpeg", "gif", "svg", "pdf", "zip", "gz", "tar", "exe", "dll", "so", "wasm",
    "jsx", "tsx", "vue", "sql", "doc", "docx", "xls", "xlsx", "bak", "tmp", "rst", "kt",
];

/// Whether `tld` can end a host written without a scheme: for a `www.`
/// host any alphabetic label; otherwise a top-level domain of the public
/// suffix list (`psl`) that is not far more often a file extension, so
/// dotted names in code (`window.location`, `df.groupby`) are not hosts.
fn tld_ok(tld: &str, www: bool) -> bool {
    if tld.len() > 4 && tld.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--")) {
        return true;
    }
    if !((2..=24).contains(&tld.len()) && tld.bytes().all(|b| b.is_ascii_alphabetic())) {
        return false;
    }
    if www {
        return true;
    }
    let lower = tld.to_ascii_lowercase();
    !NOT_TLDS.contains(&lower.as_str())
        && psl::suffix(lower.as_bytes()).is_some_and(|s| s.is_known())
}

#[derive(Debug, Clone)]
enum AllowHost {
    /// The ASCII (punycode) form, and the UTS #39 skeleton of its Unicode
    /// form.
    Domain(String, String),
    Ip(IpAddr),
    Net(IpNet),
}

#[derive(Debug, Clone)]
struct AllowEntry {
    host: AllowHost,
    scheme: Option<String>,
    port: Option<u16>,
    path: Option<String>,
}

/// The UTS #39 skeleton of a host's Unicode form.
fn host_skeleton(ascii: &str) -> String {
    skeleton(&idna::domain_to_unicode(ascii).0).collect()
}

impl AllowEntry {
    fn parse(entry: &str) -> Result<Self, GuardrailError> {
        let bad = || GuardrailError::AllowEntry {
            entry: entry.to_owned(),
        };
        let e = entry.trim();
        if let Ok(net) = e.parse::<IpNet>() {
            return Ok(Self::host_only(AllowHost::Net(net)));
        }
        if let Ok(ip) = e.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(Self::host_only(AllowHost::Ip(ip)));
        }
        let (url, scheme) = match e.contains("://") {
            true => (Url::parse(e).map_err(|_| bad())?, true),
            false => (
                Url::parse(&format!("http://{e}")).map_err(|_| bad())?,
                false,
            ),
        };
        let host = match url.host().ok_or_else(bad)? {
            Host::Domain(d) => {
                let d = d.trim_end_matches('.');
                AllowHost::Domain(d.to_owned(), host_skeleton(d))
            }
            Host::Ipv4(ip) => AllowHost::Ip(ip.into()),
            Host::Ipv6(ip) => AllowHost::Ip(ip.into()),
        };
        let path = Some(url.path().to_owned()).filter(|p| p != "/");
        Ok(Self {
            host,
            scheme: scheme.then(|| url.scheme().to_owned()),
            port: url.port(),
            path,
        })
    }

    fn host_only(host: AllowHost) -> Self {
        Self {
            host,
            scheme: None,
            port: None,
            path: None,
        }
    }

    /// Whether the entry allows `url`: how many bytes of its host come in
    /// front of the allowed domain (`www.`, subdomains), 0 for the domain or
    /// address itself.
    fn allows(&self, url: &Url, has_scheme: bool, rule: &UrlRule) -> Option<usize> {
        let front = match (&self.host, url.host()) {
            (AllowHost::Domain(d, _), Some(Host::Domain(h))) => {
                let h = h.trim_end_matches('.');
                let under = h.len() > d.len()
                    && h.ends_with(d.as_str())
                    && h.as_bytes()[h.len() - d.len() - 1] == b'.';
                let front = h.len().saturating_sub(d.len() + 1);
                match h == d {
                    true => Some(0),
                    false if under && (rule.subdomains || (rule.www && &h[..front] == "www")) => {
                        Some(front)
                    }
                    false => None,
                }
            }
            (AllowHost::Ip(ip), Some(Host::Ipv4(h))) => (*ip == IpAddr::from(h)).then_some(0),
            (AllowHost::Ip(ip), Some(Host::Ipv6(h))) => (*ip == IpAddr::from(h)).then_some(0),
            (AllowHost::Net(net), Some(Host::Ipv4(h))) => {
                net.contains(&IpAddr::from(h)).then_some(0)
            }
            (AllowHost::Net(net), Some(Host::Ipv6(h))) => {
                net.contains(&IpAddr::from(h)).then_some(0)
            }
            _ => None,
        };
        front.filter(|_| {
            self.scheme
                .as_deref()
                .is_none_or(|s| !has_scheme || s == url.scheme())
                && self.port.is_none_or(|p| url.port() == Some(p))
                && self
                    .path
                    .as_deref()
                    .is_none_or(|p| url.path().starts_with(p))
        })
    }
}

/// Kinds of finding (why a URL is not allowed).
const KIND_SCHEME: u32 = 0;
const KIND_USERINFO: u32 = 1;
const KIND_HOST: u32 = 2;
const KIND_CONFUSABLE: u32 = 3;
const KIND_MIXED: u32 = 4;

/// Why a URL trips, and its host for the result's notes.
type Verdict = Option<(u32, Option<String>)>;

/// How the text of a candidate becomes a URL to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    /// It has a scheme.
    Scheme,
    /// It starts with two slashes: the page's scheme (taken as `https`).
    Relative,
    /// A host without a scheme.
    Bare,
}

impl Base {
    fn parse(self, text: &str) -> Option<Url> {
        let full = match self {
            Base::Scheme => Cow::Borrowed(text),
            Base::Relative => Cow::Owned(format!("https:{text}")),
            Base::Bare => Cow::Owned(format!("http://{text}")),
        };
        Url::parse(&full).ok()
    }
}

/// `text` with markdown's backslash escapes resolved (a backslash before
/// ASCII punctuation stands for the punctuation), or `None` when it has
/// none.
fn markdown_unescape(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let escaped = |i: usize| b[i] == b'\\' && b.get(i + 1).is_some_and(u8::is_ascii_punctuation);
    if !(0..b.len()).any(escaped) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if escaped(i) {
            if let Some((_, next)) = chars.next() {
                out.push(next);
            }
            continue;
        }
        out.push(c);
    }
    Some(out)
}

/// Where the authority of a URL's text begins: after the scheme and the
/// slashes and backslashes that follow it.
fn authority_start(text: &str, base: Base) -> usize {
    let b = text.as_bytes();
    let mut s = match base {
        Base::Scheme => text.find(':').map_or(0, |c| c + 1),
        Base::Relative | Base::Bare => 0,
    };
    while s < b.len() && matches!(b[s], b'/' | b'\\') {
        s += 1;
    }
    s
}

/// Where the host of a URL's text is (its raw bytes, before parsing).
fn raw_host(text: &str, base: Base) -> (usize, usize) {
    let s = authority_start(text, base);
    let end = text[s..]
        .find(['/', '\\', '?', '#'])
        .map_or(text.len(), |e| s + e);
    let s = text[s..end].rfind('@').map_or(s, |a| s + a + 1);
    let host = &text[s..end];
    let e = match host.starts_with('[') {
        true => host.find(']').map_or(end, |e| s + e + 1),
        false => host.rfind(':').map_or(end, |e| s + e),
    };
    (s, e)
}

/// Whether a backslash comes before an `@` in the authority as parsers
/// that do not read `\\` as `/` see it (`https://example.com\\@evil.com`).
fn backslash_userinfo(text: &str, base: Base) -> bool {
    let s = authority_start(text, base);
    let auth = text[s..]
        .find(['/', '?', '#'])
        .map_or(&text[s..], |e| &text[s..s + e]);
    auth.find('\\').is_some_and(|k| auth[k..].contains('@'))
}

/// Whether `text` begins with a scheme and its colon.
fn has_scheme(text: &str) -> bool {
    let b = text.as_bytes();
    let n = b.iter().take_while(|&&c| is_scheme_byte(c)).count();
    n > 0 && b[0].is_ascii_alphabetic() && b.get(n) == Some(&b':')
}

/// Whether the authority of a candidate's text (after its scheme, if it
/// has one, and slashes) runs to the end of the text.
fn authority_open(text: &str) -> bool {
    let base = match has_scheme(text) {
        true => Base::Scheme,
        false => Base::Relative,
    };
    let s = authority_start(text, base);
    !text[s..].contains(['/', '\\', '?', '#'])
}

/// Where a host's last label runs from an ASCII letter or digit into
/// non-ASCII letters with no dot after: the tail of text that follows a URL
/// without a space (`example.comをご覧ください`).
fn junk_tail(host: &str) -> Option<usize> {
    let t = host
        .char_indices()
        .zip(host.chars().skip(1))
        .filter(|((_, a), b)| a.is_ascii_alphanumeric() && !b.is_ascii())
        .map(|((i, a), _)| i + a.len_utf8())
        .last()?;
    (!host[t..].contains(['.', '\u{3002}'])).then_some(t)
}

/// Whether a label, in its Unicode form, mixes scripts beyond UTS #39's
/// highly restrictive level.
fn mixed_label(label: &str) -> bool {
    let label = idna::domain_to_unicode(label).0;
    label.as_str().detect_restriction_level() > RestrictionLevel::HighlyRestrictive
}

/// The allow-list and rules of a [`UrlFilter`].
#[derive(Debug, Clone)]
pub(crate) struct UrlRule {
    table: [bool; 256],
    allow: Vec<AllowEntry>,
    schemes: Vec<String>,
    allow_userinfo: bool,
    subdomains: bool,
    www: bool,
}

/// A URL that began in an earlier piece of a token and goes on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Open {
    rule: End,
    depth: u32,
    /// Why it trips, if it does.
    kind: Option<u32>,
}

/// What [`UrlRule`] carries from one piece of a long token to the next.
#[derive(Debug, Default)]
pub(crate) struct UrlCarry {
    /// The byte before the piece, when the piece does not start the token.
    prev: Option<u8>,
    /// The piece starts inside a word whose start was given up.
    cut: bool,
    /// A URL that goes on from the last piece.
    open: Option<Open>,
    /// A candidate that begins at the piece's start, found in the last
    /// piece but too near its end to judge there.
    pending: Option<(How, End)>,
}

/// Text that no parser takes, looked into, per piece: past this many, such
/// text trips (so a token of them costs linear work, not quadratic).
const MAX_BROKEN: usize = 32;

/// Why a candidate is no URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Miss {
    /// A word tried as a host without a scheme, that is none.
    Word,
    /// Text that no parser takes (or `//` before no real host, in prose).
    Broken,
}

/// Bytes a piece may end after, when it can: none of them ends a scheme, a
/// host, a character reference or what opens a link target.
const SAFE: &[u8] = b",!*|^{}~$)";

impl UrlRule {
    /// The verdict on candidate `c` of decoded text `v`, with where the URL
    /// it read begins and ends; `None` when it is no URL (a word tried as a
    /// host).
    fn read(&self, v: &str, c: &Candidate) -> Result<(Verdict, usize, usize), Miss> {
        let (start, end) = (c.start, c.end);
        let text = v.get(start..end).ok_or(Miss::Broken)?;
        let verdict = match c.how {
            How::Scheme if c.cut => Some((KIND_SCHEME, None)),
            How::Scheme => self.read_scheme(text)?,
            How::Target => self.read_target(text)?,
            How::Relative => {
                let url = Base::Relative.parse(text).ok_or(Miss::Broken)?;
                if !plausible(&url, text) {
                    return Err(Miss::Broken);
                }
                self.verdict(text, &url, Base::Relative)
            }
            How::Bare => return self.read_bare(v, start, end).ok_or(Miss::Word),
        };
        // A delimiter ended it, and an `@` follows in what an autolink
        // would take as the same authority: judge that reading too.
        if verdict.is_none()
            && !c.open
            && let Some((alt, alt_end)) = self.beyond_end(v, c)
        {
            return Ok((alt, start, alt_end));
        }
        Ok((verdict, start, end))
    }

    /// The reading of `c` to where a markdown autolink would end it (the
    /// end of the token or a `<`), when it trips and an `@` follows its end
    /// right after the delimiter, or, where an autolink may begin, before
    /// any `/`, `\\`, `?`, `#` or `<`: `(https://example.com)@evil.com/` is
    /// a link to `evil.com`.
    fn beyond_end(&self, v: &str, c: &Candidate) -> Option<(Verdict, usize)> {
        let rest = v.get(c.end..)?;
        if !c.autolink && rest.as_bytes().get(1) != Some(&b'@') {
            return None;
        }
        let auth = rest
            .find(['/', '?', '#', '\\', '<'])
            .map_or(rest, |e| &rest[..e]);
        if !auth.contains('@') {
            return None;
        }
        let end = autolink_end(v.as_bytes(), c.start);
        let alt = v.get(c.start..end)?;
        let verdict = match c.how {
            How::Relative => self.verdict(alt, &Base::Relative.parse(alt)?, Base::Relative),
            _ => self.read_target(alt).ok()?,
        };
        verdict.is_some().then_some((verdict, end))
    }

    /// A link target: its scheme must be allowed; `//host` has its host
    /// checked; a relative path passes.
    fn read_target(&self, text: &str) -> Result<Verdict, Miss> {
        if has_scheme(text) {
            return self.read_scheme(text);
        }
        let b = text.as_bytes();
        if b.len() >= 2 && b[..2].iter().all(|c| matches!(c, b'/' | b'\\')) {
            let url = Base::Relative.parse(text).ok_or(Miss::Broken)?;
            return Ok(self.verdict(text, &url, Base::Relative));
        }
        Ok(None)
    }

    /// Text that starts with a scheme.
    fn read_scheme(&self, text: &str) -> Result<Verdict, Miss> {
        let colon = text.find(':').ok_or(Miss::Broken)?;
        let scheme = text[..colon].to_ascii_lowercase();
        let url = Base::Scheme.parse(text);
        if !self.schemes.contains(&scheme) {
            let host = url.and_then(|u| u.host_str().map(str::to_owned));
            return Ok(Some((KIND_SCHEME, host)));
        }
        let url = url.ok_or(Miss::Broken)?;
        Ok(self.verdict(text, &url, Base::Scheme))
    }

    /// A word tried as a host without a scheme, from `start` to `end` of
    /// `v`.
    fn read_bare(&self, v: &str, start: usize, end: usize) -> Option<(Verdict, usize, usize)> {
        let mut s = start + v[start..end].len() - v[start..end].trim_start_matches('_').len();
        let text = &v[s..end];
        let host_end = text
            .find(['/', ':', '?', '#', '\\', '@'])
            .unwrap_or(text.len());
        if text[host_end..].starts_with('@') {
            return None; // an e-mail address
        }
        let mut host = &text[..host_end];
        // Letters of another script glued in front (`詳細はexample.com`), none
        // of which reads as a Latin letter.
        let front = host.len() - host.trim_start_matches(|c: char| !c.is_ascii()).len();
        if front > 0
            && front < host.len()
            && host[..front]
                .chars()
                .all(|c| skeleton(c.encode_utf8(&mut [0; 4])).any(|k| !k.is_ascii()))
        {
            s += front;
            host = &host[front..];
        }
        let mut e = end;
        if let Some(t) = junk_tail(host) {
            host = &host[..t];
            e = s + t;
        }
        let labels: Vec<&str> = host.split('.').collect();
        let is_ipv4 = host.parse::<std::net::Ipv4Addr>().is_ok();
        let tld = labels.last()?;
        let is_domain = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.chars().all(|c| {
                        c.is_ascii_alphanumeric()
                            || c == '-'
                            || (!c.is_ascii()
                                && (c.is_alphanumeric()
                                    || unicode_normalization::char::is_combining_mark(c)))
                    })
            })
            && tld_ok(
                tld,
                host.get(..4)
                    .is_some_and(|w| w.eq_ignore_ascii_case("www.")),
            );
        if !(is_ipv4 || is_domain) {
            return None;
        }
        let text = &v[s..e];
        let url = Base::Bare.parse(text)?;
        Some((self.verdict(text, &url, Base::Bare), s, e))
    }

    /// The verdict on a parsed URL whose text is `text`. A backslash before
    /// ASCII punctuation is a markdown escape in a link destination
    /// (`https://example.com\.evil.com` goes to `example.com.evil.com`)
    /// and a path separator to a browser reading the same text raw: both
    /// readings must pass.
    fn verdict(&self, text: &str, url: &Url, base: Base) -> Verdict {
        let raw = self.verdict_as(text, url, base, true);
        if raw.is_some() {
            return raw;
        }
        let unescaped = markdown_unescape(text)?;
        let other = base.parse(&unescaped)?;
        self.verdict_as(&unescaped, &other, base, true)
    }

    fn verdict_as(&self, text: &str, url: &Url, base: Base, retry: bool) -> Verdict {
        let note = url.host_str().map(str::to_owned);
        let has_scheme = base == Base::Scheme;
        if has_scheme && !self.schemes.iter().any(|s| s == url.scheme()) {
            return Some((KIND_SCHEME, note));
        }
        let (hs, he) = raw_host(text, base);
        if !self.allow_userinfo && (!url.username().is_empty() || url.password().is_some()) {
            return Some((KIND_USERINFO, note));
        }
        let host = match url.host() {
            None => return None,
            Some(Host::Domain(d)) => d.trim_end_matches('.'),
            Some(_) => "",
        };
        if let Some(front) = self
            .allow
            .iter()
            .find_map(|a| a.allows(url, has_scheme, self))
        {
            if !self.allow_userinfo && backslash_userinfo(text, base) {
                return Some((KIND_USERINFO, note));
            }
            let mixed = host
                .get(..front)
                .is_some_and(|f| f.split('.').any(mixed_label));
            return mixed.then_some((KIND_MIXED, note));
        }
        // A URL followed by text of another script without a space: its
        // host without that tail.
        if retry
            && let Some(t) = text.get(hs..he).and_then(junk_tail)
            && let Some(cut) = base.parse(&text[..hs + t])
            && self
                .verdict_as(&text[..hs + t], &cut, base, false)
                .is_none()
        {
            return None;
        }
        if !host.is_empty() {
            // The allowed domain's skeleton, spelled otherwise, as the host or
            // the end of it.
            let labels: Vec<&str> = host.split('.').collect();
            let confusable = self.allow.iter().any(|a| match &a.host {
                AllowHost::Domain(d, skel) => {
                    let n = d.split('.').count();
                    let tail = labels[labels.len().saturating_sub(n)..].join(".");
                    tail != *d && host_skeleton(&tail) == *skel
                }
                _ => false,
            });
            if confusable {
                return Some((KIND_CONFUSABLE, note));
            }
            if host.split('.').any(mixed_label) {
                return Some((KIND_MIXED, note));
            }
        }
        Some((KIND_HOST, note))
    }
}

/// Whether a protocol-relative URL in prose has a host worth the name: an
/// IP address (IPv4 dotted), or a domain a host without a scheme could be.
fn plausible(url: &Url, text: &str) -> bool {
    match url.host() {
        Some(Host::Ipv6(_)) => true,
        Some(Host::Ipv4(_)) => {
            let (s, e) = raw_host(text, Base::Relative);
            text.get(s..e).is_some_and(|h| h.contains('.'))
        }
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.');
            let labels: Vec<&str> = d.split('.').collect();
            labels.len() >= 2
                && labels.iter().all(|l| {
                    !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
                && labels
                    .last()
                    .is_some_and(|t| tld_ok(t, d.starts_with("www.")))
        }
        None => false,
    }
}

impl RunRule for UrlRule {
    type Carry = UrlCarry;
    const BREAKS: bool = true;

    fn table(&self) -> &[bool; 256] {
        &self.table
    }

    fn breaks(&self, bytes: &[u8], at: usize, len: usize) -> u64 {
        breaks(bytes, at, len)
    }

    fn cap(&self) -> usize {
        URL_TOKEN_CAP
    }

    fn min_len(&self) -> usize {
        // `a.io` is the shortest host worth a look.
        4
    }

    fn judge(&self, run: &[u8], start: usize, out: &mut Vec<Finding>) {
        self.judge_piece(run, start, true, &mut UrlCarry::default(), out);
    }

    fn judge_piece(
        &self,
        piece: &[u8],
        start: usize,
        last: bool,
        carry: &mut UrlCarry,
        out: &mut Vec<Finding>,
    ) -> usize {
        let fresh = carry.open.is_none() && carry.prev.is_none();
        if last && fresh && (piece.len() < self.min_len() || !may_hold(piece)) {
            return piece.len();
        }
        // A piece that is not the last may end inside a character.
        let text = match std::str::from_utf8(piece) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(&piece[..e.valid_up_to()]).unwrap_or_default(),
        };
        if text.is_empty() {
            return piece.len();
        }
        let view = View::new(text);
        let v = view.text.as_ref();
        let bytes = v.as_bytes();
        if bytes.is_empty() {
            // Nothing but references to tabs and line breaks.
            carry.prev = piece.last().copied();
            return text.len();
        }
        let mut push = |s: usize, e: usize, kind: u32, note: Option<String>| {
            let (s, e) = (view.src(s), view.src(e));
            if e > s {
                out.push(Finding {
                    start: start + s,
                    end: start + e,
                    kind,
                    note,
                });
            }
        };
        // A URL begun in an earlier piece: to its end.
        let mut from = 0;
        if let Some(open) = carry.open.take() {
            let (end, depth, closed) = extent(bytes, 0, open.rule, open.depth, last);
            if let Some(kind) = open.kind {
                push(0, end, kind, None);
            }
            if !closed {
                carry.open = Some(Open { depth, ..open });
                carry.prev = bytes.last().copied();
                return text.len();
            }
            from = end;
        }
        // Where candidates may no longer begin in a piece that is not the
        // last: before its last `URL_LOOKAHEAD` bytes, after a safe byte.
        let (stop, forced) = match last {
            true => (bytes.len(), false),
            false => {
                let mut edge = bytes
                    .len()
                    .saturating_sub(URL_LOOKAHEAD)
                    .max(bytes.len() / 2);
                while !v.is_char_boundary(edge) {
                    edge -= 1;
                }
                let safe = (bytes.len() / 2..edge)
                    .rev()
                    .find(|&k| k > 0 && SAFE.contains(&bytes[k - 1]) && view.literal(k - 1));
                match safe {
                    Some(k) => (k, false),
                    None => (edge, true),
                }
            }
        };
        let mut next = stop.max(from);
        let mut held: Option<Open> = None;
        let mut pending: Option<(How, End)> = None;
        let mut broken = 0;
        let mut stopped = false;
        // What becomes of each candidate.
        let mut on = |c: Candidate| {
            if c.open && !last && c.start >= bytes.len() / 2 {
                // Judged from the next piece, which starts at it (one that
                // begins in the first half has half a piece here at least).
                next = c.start;
                pending = Some((c.how, c.rule));
                return Flow::Stop;
            }
            let (verdict, s, e) = match self.read(v, &c) {
                Ok(reading) => reading,
                Err(Miss::Word) => return Flow::Into,
                // Text no parser takes is no URL, and what follows may be
                // one; past a few in a piece, it is taken as a URL that is
                // not allowed, so the work stays bounded. One whose
                // authority runs past the piece may parse whole: it trips.
                Err(Miss::Broken)
                    if broken < MAX_BROKEN
                        && !(c.open && !last && authority_open(&v[c.start..c.end])) =>
                {
                    broken += 1;
                    return Flow::Into;
                }
                Err(Miss::Broken) => (Some((KIND_HOST, None)), c.start, c.end),
            };
            if c.open && !last && e == c.end {
                // A URL longer than the piece: judged on what is here, and
                // the rest of it goes with it.
                let kind = verdict.map(|(kind, note)| {
                    push(s, e, kind, note);
                    kind
                });
                held = Some(Open {
                    rule: c.rule,
                    depth: c.depth,
                    kind,
                });
                next = bytes.len();
                return Flow::Stop;
            }
            if let Some((kind, note)) = verdict {
                push(s, e, kind, note);
            }
            next = next.max(e);
            Flow::Past
        };
        // A candidate that began too late in the last piece.
        if let Some((how, rule)) = carry.pending.take()
            && from == 0
        {
            let (end, depth, closed) = extent(bytes, 0, rule, 0, last);
            let c = Candidate {
                start: 0,
                end,
                how,
                rule,
                depth,
                open: !closed,
                cut: false,
                autolink: false,
            };
            match on(c) {
                Flow::Stop => stopped = true,
                Flow::Past => from = end.max(1),
                Flow::Into => {}
            }
        }
        if !stopped && from < bytes.len() && from < stop {
            let prev = match from {
                0 => carry.prev,
                f => Some(bytes[f - 1]),
            };
            let cut = from == 0 && carry.cut;
            let lead = from == 0 && carry.prev.is_none();
            walk(&bytes[from..], prev, cut, stop - from, last, lead, |c| {
                on(Candidate {
                    start: c.start + from,
                    end: c.end + from,
                    ..c
                })
            });
        }
        if last {
            return text.len();
        }
        carry.open = held;
        carry.pending = pending;
        let mut next = next.clamp(1, bytes.len());
        while !v.is_char_boundary(next) {
            next += 1;
        }
        carry.prev = Some(bytes[next - 1]);
        carry.cut = forced && next == stop && is_scheme_byte(bytes[next - 1]);
        view.src(next)
    }

    fn entity(&self, kind: u32) -> &str {
        match kind {
            KIND_SCHEME => "scheme_not_allowed",
            KIND_USERINFO => "userinfo_not_allowed",
            KIND_CONFUSABLE => "confusable_host",
            KIND_MIXED => "mixed_script_host",
            _ => "host_not_allowed",
        }
    }

    fn label(&self, _kind: u32) -> &str {
        "URL"
    }
}

/// Lets through only URLs to allowed hosts, in input, output and streamed
/// output.
///
/// ```
/// use openai_hooks::guardrails::UrlFilter;
///
/// let urls = UrlFilter::new(["example.com", "10.0.0.0/8"])?.allow_subdomains(true);
/// assert!(!urls.check("see https://docs.example.com/guide").tripped);
/// assert!(!urls.check("the box at 10.1.2.3 is fine").tripped);
/// assert!(urls.check("see https://evil.test/x").tripped);
/// assert!(urls.check("https://user:pw@example.com").tripped);
/// assert!(urls.check("http://example.com").tripped); // only https by default
/// // As a browser reads them: fewer slashes, protocol-relative, link targets.
/// assert!(urls.check("https:evil.test/x").tripped);
/// assert!(urls.check("![x](//evil.test/p?d=1)").tripped);
/// assert!(urls.check("[a](javascript:alert(1))").tripped);
/// assert!(urls.check("https://\u{435}xample.com").tripped); // Cyrillic `е`
/// # Ok::<(), openai_hooks::guardrails::GuardrailError>(())
/// ```
#[derive(Debug, Clone)]
pub struct UrlFilter {
    scanner: Scanner<RunDetector<UrlRule>>,
}

impl UrlFilter {
    /// Allows URLs to these domains, IP addresses, CIDR ranges or URL
    /// prefixes; only `https`, no userinfo, no subdomains but `www.`; blocks
    /// the rest.
    pub fn new<I, S>(allow: I) -> Result<Self, GuardrailError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let allow = allow
            .into_iter()
            .map(|e| AllowEntry::parse(e.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let rule = UrlRule {
            table: table(|b| b.is_ascii_graphic() || !b.is_ascii()),
            allow,
            schemes: vec!["https".to_owned()],
            allow_userinfo: false,
            subdomains: false,
            www: true,
        };
        Ok(Self {
            scanner: Scanner::new(Arc::new(RunDetector(rule)), Treatment::Block),
        })
    }

    fn rule(&mut self) -> &mut UrlRule {
        &mut Arc::make_mut(&mut self.scanner.det).0
    }

    /// Sets the allowed schemes (lower case, e.g. `["https", "http"]`).
    pub fn schemes<I, S>(mut self, schemes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rule().schemes = schemes
            .into_iter()
            .map(|s| s.into().to_ascii_lowercase())
            .collect();
        self
    }

    /// Whether subdomains of an allowed domain are allowed (default no).
    pub fn allow_subdomains(mut self, yes: bool) -> Self {
        self.rule().subdomains = yes;
        self
    }

    /// Whether `www.` in front of an allowed domain is allowed when
    /// subdomains are not (default yes, as openai-guardrails does:
    /// allowing `example.com` allows `www.example.com`).
    pub fn allow_www(mut self, yes: bool) -> Self {
        self.rule().www = yes;
        self
    }

    /// Whether URLs with userinfo (`user:pass@`) are allowed (default no).
    pub fn allow_userinfo(mut self, yes: bool) -> Self {
        self.rule().allow_userinfo = yes;
        self
    }

    /// Whether strings in reply fields this crate's types do not name
    /// (`annotations[].url_citation`, provider extras, kept in `extra`) are
    /// scanned, each value as a text of its own (default yes). Known
    /// channels (content, refusal, reasoning, tool calls, legacy function
    /// calls, audio transcripts) are always scanned.
    pub fn scan_unknown_fields(mut self, yes: bool) -> Self {
        self.scanner.scan_unknown = yes;
        self
    }

    /// Sets what a URL that is not allowed does.
    pub fn action(mut self, action: UrlAction) -> Self {
        self.scanner.treat = match action {
            UrlAction::Block => Treatment::Block,
            UrlAction::Mask => Treatment::Mask,
        };
        self
    }

    /// Checks one text, as a pre-request or post-response hook would.
    pub fn check(&self, text: &str) -> Check {
        Check::run(&self.scanner, text)
    }
}

impl Guardrail for UrlFilter {
    fn name(&self) -> &'static str {
        "url_filter"
    }
    fn stages(&self) -> &'static [Stage] {
        STAGES_ALL
    }
}

impl ScanGuard for UrlFilter {
    type Det = RunDetector<UrlRule>;
    fn guard_name(&self) -> &'static str {
        "url_filter"
    }
    fn scanner(&self) -> &Scanner<RunDetector<UrlRule>> {
        &self.scanner
    }
    fn reason(&self, tally: &Tally) -> String {
        match tally.notes.is_empty() {
            true => format!("URL not allowed: {}", tally.names()),
            false => format!("URL not allowed: {}", tally.notes.join(", ")),
        }
    }
}

scan_hooks!(UrlFilter, UrlFilterState, RunCursor<UrlCarry>);
