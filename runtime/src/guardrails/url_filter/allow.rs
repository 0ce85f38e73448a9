//! The allow-list of a [`UrlFilter`](super::UrlFilter): domains, IP
//! addresses, CIDR ranges and URL prefixes, parsed.

use super::*;

/// Top-level labels that are far more often file extensions.
pub(super) const NOT_TLDS: &[&str] = &[
    "py", "js", "ts", "rs", "go", "rb", "md", "txt", "json", "yaml", "yml", "toml", "lock", "html",
    "htm", "css", "csv", "xml", "log", "ini", "cfg", "conf", "sh", "java", "cpp", "hpp", "php",
    "png", "jpg", "jpeg", "gif", "svg", "pdf", "zip", "gz", "tar", "exe", "dll", "so", "wasm",
    "jsx", "tsx", "vue", "sql", "doc", "docx", "xls", "xlsx", "bak", "tmp", "rst", "kt",
];

/// Whether `tld` can end a host written without a scheme: for a `www.`
/// host any alphabetic label; otherwise a top-level domain of the public
/// suffix list (`psl`) that is not far more often a file extension, so
/// dotted names in code (`window.location`, `df.groupby`) are not hosts.
pub(super) fn tld_ok(tld: &str, www: bool) -> bool {
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
pub(super) enum AllowHost {
    /// The ASCII (punycode) form, and the UTS #39 skeleton of its Unicode
    /// form.
    Domain(String, String),
    Ip(IpAddr),
    Net(IpNet),
}

#[derive(Debug, Clone)]
pub(super) struct AllowEntry {
    pub(super) host: AllowHost,
    pub(super) scheme: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) path: Option<String>,
}

/// The UTS #39 skeleton of a host's Unicode form.
pub(super) fn host_skeleton(ascii: &str) -> String {
    skeleton(&idna::domain_to_unicode(ascii).0).collect()
}

impl AllowEntry {
    pub(super) fn parse(entry: &str) -> Result<Self, GuardrailError> {
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

    pub(super) fn host_only(host: AllowHost) -> Self {
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
    pub(super) fn allows(&self, url: &Url, has_scheme: bool, rule: &UrlRule) -> Option<usize> {
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
