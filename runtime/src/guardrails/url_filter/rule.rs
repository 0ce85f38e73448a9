//! The verdict on one URL candidate: parsed as a browser would, its
//! scheme, userinfo and host held against the allow-list.

use super::*;

/// Kinds of finding (why a URL is not allowed).
pub(super) const KIND_SCHEME: u32 = 0;
pub(super) const KIND_USERINFO: u32 = 1;
pub(super) const KIND_HOST: u32 = 2;
pub(super) const KIND_CONFUSABLE: u32 = 3;
pub(super) const KIND_MIXED: u32 = 4;

/// Why a URL trips (its kind of finding). The host is not kept: results
/// and tripwires never name it.
pub(super) type Verdict = Option<u32>;

/// How the text of a candidate becomes a URL to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Base {
    /// It has a scheme.
    Scheme,
    /// It starts with two slashes: the page's scheme (taken as `https`).
    Relative,
    /// A host without a scheme.
    Bare,
}

impl Base {
    pub(super) fn parse(self, text: &str) -> Option<Url> {
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
pub(super) fn markdown_unescape(text: &str) -> Option<String> {
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
pub(super) fn authority_start(text: &str, base: Base) -> usize {
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
pub(super) fn raw_host(text: &str, base: Base) -> (usize, usize) {
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
pub(super) fn backslash_userinfo(text: &str, base: Base) -> bool {
    let s = authority_start(text, base);
    let auth = text[s..]
        .find(['/', '?', '#'])
        .map_or(&text[s..], |e| &text[s..s + e]);
    auth.find('\\').is_some_and(|k| auth[k..].contains('@'))
}

/// Whether `text` begins with a scheme and its colon.
pub(super) fn has_scheme(text: &str) -> bool {
    let b = text.as_bytes();
    let n = b.iter().take_while(|&&c| is_scheme_byte(c)).count();
    n > 0 && b[0].is_ascii_alphabetic() && b.get(n) == Some(&b':')
}

/// Whether the authority of a candidate's text (after its scheme, if it
/// has one, and slashes) runs to the end of the text.
pub(super) fn authority_open(text: &str) -> bool {
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
pub(super) fn junk_tail(host: &str) -> Option<usize> {
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
pub(super) fn mixed_label(label: &str) -> bool {
    let label = idna::domain_to_unicode(label).0;
    label.as_str().detect_restriction_level() > RestrictionLevel::HighlyRestrictive
}

/// The allow-list and rules of a [`UrlFilter`].
#[derive(Debug, Clone)]
pub(crate) struct UrlRule {
    pub(super) table: [bool; 256],
    pub(super) allow: Vec<AllowEntry>,
    pub(super) schemes: Vec<String>,
    pub(super) allow_userinfo: bool,
    pub(super) subdomains: bool,
    pub(super) www: bool,
}

/// A URL that began in an earlier piece of a token and goes on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Open {
    pub(super) rule: End,
    pub(super) depth: u32,
    /// Why it trips, if it does.
    pub(super) kind: Option<u32>,
}

/// What [`UrlRule`] carries from one piece of a long token to the next.
#[derive(Debug, Default)]
pub struct UrlCarry {
    /// The byte before the piece, when the piece does not start the token.
    pub(super) prev: Option<u8>,
    /// The piece starts inside a word whose start was given up.
    pub(super) cut: bool,
    /// A URL that goes on from the last piece.
    pub(super) open: Option<Open>,
    /// A candidate that begins at the piece's start, found in the last
    /// piece but too near its end to judge there.
    pub(super) pending: Option<(How, End)>,
}

/// Text that no parser takes, looked into, per piece: past this many, such
/// text trips (so a token of them costs linear work, not quadratic).
pub(super) const MAX_BROKEN: usize = 32;

/// Why a candidate is no URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Miss {
    /// A word tried as a host without a scheme, that is none.
    Word,
    /// Text that no parser takes (or `//` before no real host, in prose).
    Broken,
}

/// Bytes a piece may end after, when it can: none of them ends a scheme, a
/// host, a character reference or what opens a link target.
pub(super) const SAFE: &[u8] = b",!*|^{}~$)";

impl UrlRule {
    /// The verdict on candidate `c` of decoded text `v`, with where the URL
    /// it read begins and ends; `None` when it is no URL (a word tried as a
    /// host).
    pub(super) fn read(&self, v: &str, c: &Candidate) -> Result<(Verdict, usize, usize), Miss> {
        let (start, end) = (c.start, c.end);
        let text = v.get(start..end).ok_or(Miss::Broken)?;
        let verdict = match c.how {
            How::Scheme if c.cut => Some(KIND_SCHEME),
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
    pub(super) fn beyond_end(&self, v: &str, c: &Candidate) -> Option<(Verdict, usize)> {
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
    pub(super) fn read_target(&self, text: &str) -> Result<Verdict, Miss> {
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
    pub(super) fn read_scheme(&self, text: &str) -> Result<Verdict, Miss> {
        let colon = text.find(':').ok_or(Miss::Broken)?;
        let scheme = text[..colon].to_ascii_lowercase();
        if !self.schemes.contains(&scheme) {
            return Ok(Some(KIND_SCHEME));
        }
        let url = Base::Scheme.parse(text).ok_or(Miss::Broken)?;
        Ok(self.verdict(text, &url, Base::Scheme))
    }

    /// A word tried as a host without a scheme, from `start` to `end` of
    /// `v`.
    pub(super) fn read_bare(
        &self,
        v: &str,
        start: usize,
        end: usize,
    ) -> Option<(Verdict, usize, usize)> {
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
    pub(super) fn verdict(&self, text: &str, url: &Url, base: Base) -> Verdict {
        let raw = self.verdict_as(text, url, base, true);
        if raw.is_some() {
            return raw;
        }
        let unescaped = markdown_unescape(text)?;
        let other = base.parse(&unescaped)?;
        self.verdict_as(&unescaped, &other, base, true)
    }

    pub(super) fn verdict_as(&self, text: &str, url: &Url, base: Base, retry: bool) -> Verdict {
        let has_scheme = base == Base::Scheme;
        if has_scheme && !self.schemes.iter().any(|s| s == url.scheme()) {
            return Some(KIND_SCHEME);
        }
        let (hs, he) = raw_host(text, base);
        if !self.allow_userinfo && (!url.username().is_empty() || url.password().is_some()) {
            return Some(KIND_USERINFO);
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
                return Some(KIND_USERINFO);
            }
            let mixed = host
                .get(..front)
                .is_some_and(|f| f.split('.').any(mixed_label));
            return mixed.then_some(KIND_MIXED);
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
                return Some(KIND_CONFUSABLE);
            }
            if host.split('.').any(mixed_label) {
                return Some(KIND_MIXED);
            }
        }
        Some(KIND_HOST)
    }
}

/// Whether a protocol-relative URL in prose has a host worth the name: an
/// IP address (IPv4 dotted), or a domain a host without a scheme could be.
pub(super) fn plausible(url: &Url, text: &str) -> bool {
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
