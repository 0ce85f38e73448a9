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

mod allow;
mod rule;
mod run;
use allow::*;
use rule::*;

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use unicode_security::{RestrictionLevel, RestrictionLevelDetection, skeleton};
use url::{Host, Url};

use crate::guardrails::error::GuardrailError;
use crate::guardrails::pipeline::{Build, PipelineError, Registered};
use crate::guardrails::scan::engine::{Finding, Scanner, Tally, Treatment};
use crate::guardrails::scan::hooks::{ScanGuard, scan_hooks};
use crate::guardrails::scan::runs::{RunCursor, RunDetector, RunRule, table};
use crate::guardrails::{Check, Guardrail, STAGES_ALL};
use crate::hooks::Stage;
use crate::limits::URL_TOKEN_CAP;
use candidates::{
    Candidate, End, Flow, How, View, autolink_end, breaks, extent, is_scheme_byte, may_hold, walk,
};

/// Of a piece of a token longer than [`URL_TOKEN_CAP`], the bytes at its end
/// where no candidate begins: one that begins there is judged from the next
/// piece, which starts before it.
pub const URL_LOOKAHEAD: usize = 256;

/// What [`UrlFilter`] does with a URL that is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UrlAction {
    /// Stop the call with a tripwire naming the kind of finding
    /// (`host_not_allowed`, `scheme_not_allowed`, ...), never the URL or its
    /// host (the default).
    #[default]
    Block,
    /// Replace the URL with `<URL>` and go on.
    Mask,
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
    fn scanner(&self) -> &Scanner<RunDetector<UrlRule>> {
        &self.scanner
    }
    fn reason(&self, tally: &Tally) -> String {
        // The kinds of finding, never the URL or its host.
        format!("URL not allowed: {}", tally.names())
    }
}

scan_hooks!(UrlFilter, UrlFilterState, RunCursor<UrlCarry>);

/// `config` of "URL Filter" in a pipeline bundle.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UrlConfig {
    #[serde(default)]
    url_allow_list: Vec<String>,
    allowed_schemes: Option<Vec<String>>,
    block_userinfo: Option<bool>,
    #[serde(default)]
    allow_subdomains: bool,
}

impl Registered for UrlConfig {
    const NAME: &'static str = "URL Filter";
    type Guard = UrlFilter;

    fn build(self, cx: &Build<'_>) -> Result<UrlFilter, PipelineError> {
        let filter = UrlFilter::new(&self.url_allow_list).map_err(|e| {
            let i = match &e {
                GuardrailError::AllowEntry { entry } => {
                    self.url_allow_list.iter().position(|x| x == entry)
                }
                _ => None,
            };
            let field = i.map_or("url_allow_list".to_owned(), |i| {
                format!("url_allow_list[{i}]")
            });
            cx.bad(&field, e)
        })?;
        let mut filter = filter
            .allow_subdomains(self.allow_subdomains)
            .allow_userinfo(!self.block_userinfo.unwrap_or(true));
        if let Some(schemes) = self.allowed_schemes {
            // As openai-guardrails does: "https://", "HTTPS:" and
            // " https " all mean `https`.
            let cleaned: Vec<String> = schemes
                .iter()
                .map(|s| {
                    let s = s.trim().to_ascii_lowercase();
                    let s = s.strip_suffix("://").unwrap_or(&s);
                    s.strip_suffix(':').unwrap_or(s).trim().to_owned()
                })
                .filter(|s| !s.is_empty())
                .collect();
            if cleaned.is_empty() {
                return Err(cx.bad("allowed_schemes", "needs at least one scheme"));
            }
            filter = filter.schemes(cleaned);
        }
        Ok(filter)
    }
}
