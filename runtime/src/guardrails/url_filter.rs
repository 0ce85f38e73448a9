//! `UrlFilter`: only URLs to allowed places.
//!
//! A candidate is a token of printable ASCII (whitespace and non-ASCII end
//! it; IDNs are seen in their punycode form), with surrounding quotes,
//! brackets and trailing punctuation trimmed. It is a URL when it has a
//! scheme (`https://…`, `ftp://…`), starts with `www.`, is an IPv4 address,
//! or is a bare domain (`example.com`, `example.com/path`) whose top-level
//! label is alphabetic and not a common file extension (`main.rs` is a file,
//! not a host). E-mail addresses are not URLs. Each URL is parsed with the
//! `url` crate and blocked when:
//! - its scheme is not allowed (default: `https` only; schemeless URLs have
//!   no scheme to check);
//! - it has userinfo (`https://user:pass@host`), unless allowed;
//! - its host is not on the allow-list: a domain (optionally with its
//!   subdomains), an IP address, a CIDR range, or a URL whose scheme, port
//!   and path prefix must then match too.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use url::{Host, Url};

use super::engine::{Finding, Scanner, Tally, Treatment};
use super::error::GuardrailError;
use super::runs::{RunCursor, RunDetector, RunRule, table};
use super::scan_hooks::{ScanGuard, scan_hooks};
use super::{Check, Guardrail, STAGES_ALL};
use crate::hooks::Stage;

/// The longest token judged in one piece, in bytes (a chunk hook holds back
/// at most this much).
pub const URL_TOKEN_CAP: usize = 2048;

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

#[derive(Debug, Clone)]
enum AllowHost {
    Domain(String),
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
            Host::Domain(d) => AllowHost::Domain(d.trim_end_matches('.').to_owned()),
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

    fn allows(&self, url: &Url, has_scheme: bool, subdomains: bool) -> bool {
        let host_ok = match (&self.host, url.host()) {
            (AllowHost::Domain(d), Some(Host::Domain(h))) => {
                let h = h.trim_end_matches('.');
                h == d
                    || (subdomains
                        && h.len() > d.len()
                        && h.ends_with(d.as_str())
                        && h.as_bytes()[h.len() - d.len() - 1] == b'.')
            }
            (AllowHost::Ip(ip), Some(Host::Ipv4(h))) => *ip == IpAddr::from(h),
            (AllowHost::Ip(ip), Some(Host::Ipv6(h))) => *ip == IpAddr::from(h),
            (AllowHost::Net(net), Some(Host::Ipv4(h))) => net.contains(&IpAddr::from(h)),
            (AllowHost::Net(net), Some(Host::Ipv6(h))) => net.contains(&IpAddr::from(h)),
            _ => false,
        };
        host_ok
            && self
                .scheme
                .as_deref()
                .is_none_or(|s| !has_scheme || s == url.scheme())
            && self.port.is_none_or(|p| url.port() == Some(p))
            && self
                .path
                .as_deref()
                .is_none_or(|p| url.path().starts_with(p))
    }
}

/// Kinds of finding (why a URL is not allowed).
const KIND_SCHEME: u32 = 0;
const KIND_USERINFO: u32 = 1;
const KIND_HOST: u32 = 2;

/// The allow-list and rules of a [`UrlFilter`].
#[derive(Debug, Clone)]
pub(crate) struct UrlRule {
    table: [bool; 256],
    allow: Vec<AllowEntry>,
    schemes: Vec<String>,
    allow_userinfo: bool,
    subdomains: bool,
}

impl UrlRule {
    /// Finds the URL in a trimmed token: its parsed form, where it starts in
    /// the token, and whether it had a scheme.
    fn candidate(&self, tok: &str) -> Option<(Url, usize, bool)> {
        if let Some(i) = tok.find("://") {
            let start = tok[..i]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+.-".contains(c)))
                .map_or(0, |p| p + 1);
            if start == i {
                return None;
            }
            return Url::parse(&tok[start..]).ok().map(|u| (u, start, true));
        }
        if tok.contains('@') && !tok.contains('/') {
            return None; // an e-mail address
        }
        let host_end = tok.find(['/', ':', '?', '#']).unwrap_or(tok.len());
        let host = &tok[..host_end];
        let labels: Vec<&str> = host.split('.').collect();
        let tld = labels.last()?;
        let is_ipv4 = host.parse::<std::net::Ipv4Addr>().is_ok();
        let is_domain = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            && (2..=24).contains(&tld.len())
            && tld.bytes().all(|b| b.is_ascii_alphabetic())
            && (host.starts_with("www.") || !NOT_TLDS.contains(&tld.to_ascii_lowercase().as_str()));
        if !(is_ipv4 || is_domain) {
            return None;
        }
        Url::parse(&format!("http://{tok}"))
            .ok()
            .map(|u| (u, 0, false))
    }

    fn verdict(&self, url: &Url, has_scheme: bool) -> Option<u32> {
        if has_scheme && !self.schemes.iter().any(|s| s == url.scheme()) {
            return Some(KIND_SCHEME);
        }
        if !self.allow_userinfo && (!url.username().is_empty() || url.password().is_some()) {
            return Some(KIND_USERINFO);
        }
        if !self
            .allow
            .iter()
            .any(|a| a.allows(url, has_scheme, self.subdomains))
        {
            return Some(KIND_HOST);
        }
        None
    }
}

impl RunRule for UrlRule {
    type Carry = ();

    fn table(&self) -> &[bool; 256] {
        &self.table
    }

    fn cap(&self) -> usize {
        URL_TOKEN_CAP
    }

    fn min_len(&self) -> usize {
        // `a.io` is the shortest host worth a look.
        4
    }

    fn judge(&self, run: &[u8], start: usize, out: &mut Vec<Finding>) {
        // Runs are printable ASCII, so this never fails.
        let Ok(tok) = std::str::from_utf8(run) else {
            return;
        };
        let lead = tok.len()
            - tok
                .trim_start_matches(['(', '[', '{', '<', '"', '\'', '`'])
                .len();
        let trimmed = tok[lead..].trim_end_matches([
            '.', ',', ';', ':', '!', '?', ')', ']', '}', '>', '"', '\'', '`',
        ]);
        let Some((url, offset, has_scheme)) = self.candidate(trimmed) else {
            return;
        };
        if let Some(kind) = self.verdict(&url, has_scheme) {
            out.push(Finding {
                start: start + lead + offset,
                end: start + lead + trimmed.len(),
                kind,
                note: url.host_str().map(str::to_owned),
            });
        }
    }

    fn entity(&self, kind: u32) -> &str {
        match kind {
            KIND_SCHEME => "scheme_not_allowed",
            KIND_USERINFO => "userinfo_not_allowed",
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
/// # Ok::<(), openai_hooks::guardrails::GuardrailError>(())
/// ```
#[derive(Debug, Clone)]
pub struct UrlFilter {
    scanner: Scanner<RunDetector<UrlRule>>,
}

impl UrlFilter {
    /// Allows URLs to these domains, IP addresses, CIDR ranges or URL
    /// prefixes; only `https`, no userinfo, no subdomains; blocks the rest.
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
            table: table(|b| b.is_ascii_graphic()),
            allow,
            schemes: vec!["https".to_owned()],
            allow_userinfo: false,
            subdomains: false,
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

    /// Whether URLs with userinfo (`user:pass@`) are allowed (default no).
    pub fn allow_userinfo(mut self, yes: bool) -> Self {
        self.rule().allow_userinfo = yes;
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

scan_hooks!(UrlFilter, UrlFilterState, RunCursor);
