//! Finding URL candidates in a token of folded text: where each begins, where
//! it ends, and how it is to be read. What the rules are, and why, is in the
//! docs of [`UrlFilter`](super::UrlFilter); this module carries them out.
//!
//! A token (a run of the URL table, see [`continues`]) is first decoded: HTML
//! character references become what they stand for (`&#106;` is `j`,
//! `&colon;` is `:`) and tabs and line breaks that they produce are dropped,
//! as a URL parser drops them. The decoded text is walked once, left to
//! right; a candidate found is read in full, and the walk goes on after it,
//! so candidates never nest.

mod view;
use std::borrow::Cow;
pub(crate) use view::View;

use unicode_normalization::char::is_combining_mark;

use crate::guardrails::scan::fold::{Fold, fold_str};

/// U+3002 IDEOGRAPHIC FULL STOP, which IDNA reads as a dot (U+FF0E and U+FF61
/// fold to `.` and to it).
const IDEOGRAPHIC_STOP: char = '\u{3002}';

/// Whether the non-ASCII character `c` goes on a token: letters, digits and
/// combining marks (an IDN label is made of them), and the ideographic full
/// stop after an ASCII character (`https://example。com`); not after another
/// non-ASCII character, where it ends a sentence of CJK text.
pub(crate) fn continues(c: char, after_ascii: bool) -> bool {
    match c {
        IDEOGRAPHIC_STOP => after_ascii,
        c => c.is_alphanumeric() || is_combining_mark(c),
    }
}

/// The bytes of `bytes[at..at + len]` that belong to non-ASCII characters
/// that end a token (see [`continues`]), as a mask.
pub(crate) fn breaks(bytes: &[u8], at: usize, len: usize) -> u64 {
    let end = at + len;
    let mut i = at;
    // A character begun before the block: back to its first byte.
    while i > at.saturating_sub(3) && i < bytes.len() && bytes[i] & 0xC0 == 0x80 {
        i -= 1;
    }
    let mut mask = 0u64;
    while i < end {
        let b = bytes[i];
        if b < 0x80 {
            i += 1;
            continue;
        }
        let n = match b {
            0xF0.. => 4,
            0xE0.. => 3,
            0xC0.. => 2,
            _ => 1,
        };
        let c = bytes
            .get(i..(i + n).min(bytes.len()))
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.chars().next());
        let after_ascii = i > 0 && bytes[i - 1].is_ascii_graphic();
        if !c.is_some_and(|c| continues(c, after_ascii)) {
            for k in i.max(at)..(i + n).min(end) {
                mask |= 1 << (k - at);
            }
        }
        i += n;
    }
    mask
}

/// Where a candidate's text ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// At the end of the token, or at `<`, `>`, `"` or a backtick, less
    /// trailing punctuation.
    Prose,
    /// At the first `)` that closes no `(` of its own (a markdown link
    /// destination, or a URL in parentheses).
    Paren,
    /// At this byte (a closing quote or `>`).
    Until(u8),
    /// At `>` or the end of the token (an unquoted HTML attribute).
    Attr,
}

/// How a candidate is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum How {
    /// It begins with a scheme.
    Scheme,
    /// It begins with `//` (a browser resolves it against the page).
    Relative,
    /// A host without a scheme: `www.…`, a domain, an IPv4 address.
    Bare,
    /// A link target (markdown link or image, reference definition, URL
    /// attribute of HTML): read as a browser resolves it against the page.
    Target,
}

/// A candidate, in decoded offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) how: How,
    /// Its end rule, for a candidate that goes on into the next piece.
    pub(crate) rule: End,
    /// The nesting of parentheses at `end`, under [`End::Paren`].
    pub(crate) depth: u32,
    /// Whether it reached the end of the text without ending (the token
    /// goes on).
    pub(crate) open: bool,
    /// Its scheme begins before the text does (in a piece of a long run):
    /// it is not known, so not allowed.
    pub(crate) cut: bool,
    /// A markdown autolink may begin where it does (a scheme at the start
    /// of the token or after `*`, `_`, `~` or `(`).
    pub(crate) autolink: bool,
}

/// What the walk does after a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Go on after it.
    Past,
    /// It was no URL: go on inside it.
    Into,
    /// Stop walking.
    Stop,
}

/// ASCII bytes of a scheme.
pub(crate) fn is_scheme_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')
}

/// Bytes of a word: what a host or a scheme is made of (non-ASCII bytes are
/// letters, digits and marks: the token holds no others but U+3002).
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+') || b >= 0x80
}

/// What a token may begin with before a host without a scheme: opening
/// brackets and quotes, markdown emphasis.
const LEAD: &[u8] = b"([{<\"'`*_~";

/// Schemes whose URLs have a host however few slashes follow the colon.
const SPECIAL: &[&str] = &["http", "https", "ws", "wss", "ftp"];

/// Schemes that run code or carry a document.
const ACTIVE: &[&str] = &["javascript", "vbscript"];

/// HTML attributes whose value a browser loads or follows as a URL.
const URL_ATTRS: &[&str] = &[
    "href",
    "src",
    "action",
    "formaction",
    "poster",
    "background",
    "cite",
    "data",
    "codebase",
    "srcset",
    "ping",
    "longdesc",
    "manifest",
    "icon",
    "lowsrc",
    "dynsrc",
    "usemap",
    "archive",
    "classid",
    "profile",
    "xlink:href",
];

/// The end rule of a candidate in prose that follows `prev`.
fn prose_end(prev: Option<u8>) -> End {
    match prev {
        Some(q @ (b'"' | b'\'' | b'`')) => End::Until(q),
        Some(b'<') => End::Until(b'>'),
        Some(b'(') => End::Paren,
        Some(b'=') => End::Attr,
        _ => End::Prose,
    }
}

/// Where text from `from` ends under `rule` (starting at paren `depth`),
/// trailing punctuation trimmed where the end is not a closing delimiter:
/// `(end, depth, closed)`, `closed` false when it ran into the end of the
/// text (which `last` says is the end of the token).
pub(crate) fn extent(
    v: &[u8],
    from: usize,
    rule: End,
    depth: u32,
    last: bool,
) -> (usize, u32, bool) {
    let mut depth = depth;
    let mut j = from;
    while j < v.len() {
        let b = v[j];
        let stop = match rule {
            End::Prose => matches!(b, b'<' | b'>' | b'"' | b'`'),
            End::Until(q) => b == q,
            End::Attr => b == b'>',
            End::Paren => match b {
                b'(' => {
                    depth += 1;
                    false
                }
                b')' if depth == 0 => true,
                b')' => {
                    depth -= 1;
                    false
                }
                _ => false,
            },
        };
        if stop {
            let end = match rule {
                End::Prose => trim_end(v, from, j),
                _ => j,
            };
            return (end, depth, true);
        }
        j += 1;
    }
    match last {
        true => (trim_end(v, from, j), depth, true),
        false => (j, depth, false),
    }
}

/// Where a markdown autolink that begins at `from` ends: at a `<` or the
/// end of the text, less trailing punctuation.
pub(crate) fn autolink_end(v: &[u8], from: usize) -> usize {
    let e = v[from..]
        .iter()
        .position(|&b| b == b'<')
        .map_or(v.len(), |e| from + e);
    trim_end(v, from, e)
}

/// `end` less trailing punctuation that ends a sentence rather than a URL,
/// and closing brackets that close nothing opened after `from`.
fn trim_end(v: &[u8], from: usize, end: usize) -> usize {
    let stop = IDEOGRAPHIC_STOP.len_utf8();
    let mut e = end;
    loop {
        let s = &v[from..e];
        if s.ends_with("\u{3002}".as_bytes()) {
            e -= stop;
            continue;
        }
        let Some(&b) = s.last() else {
            return e;
        };
        let trim = match b {
            b'.' | b',' | b';' | b':' | b'!' | b'?' | b'*' | b'_' | b'~' | b'\'' => true,
            b')' | b']' | b'}' => {
                let open = match b {
                    b')' => b'(',
                    b']' => b'[',
                    _ => b'{',
                };
                let opens = s.iter().filter(|&&c| c == open).count();
                let closes = s.iter().filter(|&&c| c == b).count();
                closes > opens
            }
            _ => false,
        };
        if !trim {
            return e;
        }
        e -= 1;
    }
}

/// What the text after a scheme's colon must look like for a scheme in prose
/// to be a candidate: two slashes for any scheme; anything for the special
/// schemes and the active ones; a slash for `file`; a media type, `,` or `;`
/// for `data`.
fn scheme_in_prose(scheme: &str, rest: &[u8]) -> bool {
    let Some(&first) = rest.first() else {
        return false;
    };
    if rest.starts_with(b"//") {
        return true;
    }
    match scheme {
        s if SPECIAL.contains(&s) || ACTIVE.contains(&s) => true,
        "file" => matches!(first, b'/' | b'\\'),
        "data" => {
            matches!(first, b',' | b';') || {
                let kind = rest.iter().take_while(|b| b.is_ascii_alphabetic()).count();
                kind > 0 && rest.get(kind) == Some(&b'/')
            }
        }
        _ => false,
    }
}

/// The scheme that ends just before the colon at `colon`: the ASCII letters,
/// digits and `+-.` before it, from the first letter, not before `floor`.
/// `None` when there is none; the flag says it reaches `floor` at 0 with the
/// token cut there (it may begin earlier).
fn scheme_before(v: &[u8], floor: usize, colon: usize) -> Option<(usize, bool)> {
    let mut s = colon;
    while s > floor && is_scheme_byte(v[s - 1]) {
        s -= 1;
    }
    let reaches = s == floor;
    while s < colon && !v[s].is_ascii_alphabetic() {
        s += 1;
    }
    (s < colon).then_some((s, reaches))
}

/// The name of an HTML attribute that ends just before the `=` at `eq`, if
/// it is one whose value is a URL.
fn url_attr(v: &[u8], eq: usize) -> bool {
    let mut s = eq;
    while s > 0 && (v[s - 1].is_ascii_alphanumeric() || matches!(v[s - 1], b':' | b'-' | b'_')) {
        s -= 1;
    }
    let name = &v[s..eq];
    (1..=12).contains(&name.len())
        && URL_ATTRS
            .iter()
            .any(|a| a.as_bytes().eq_ignore_ascii_case(name))
}

/// Whether a token may hold a candidate: every one needs one of these bytes
/// (`&` for references that decode to them).
pub(crate) fn may_hold(tok: &[u8]) -> bool {
    tok.iter()
        .any(|&b| matches!(b, b':' | b'/' | b'.' | b'=' | b'&' | b'\\'))
}

/// Walks decoded text `v` for candidates, calling `found` with each. `prev`
/// is the byte before `v` in the token (if `v` does not start it), `cut`
/// that `v` starts inside a word whose start was given up, `stop` where
/// candidates may no longer begin, `last` that `v` ends the token, and
/// `lead` that a host without a scheme may begin at its start.
pub(crate) fn walk(
    v: &[u8],
    prev: Option<u8>,
    cut: bool,
    stop: usize,
    last: bool,
    lead: bool,
    mut found: impl FnMut(Candidate) -> Flow,
) {
    let before = |i: usize| if i == 0 { prev } else { Some(v[i - 1]) };
    // Where the walk may look back to: the end of the last candidate.
    let mut floor = 0;
    // Whether only opening brackets, quotes and emphasis came before: a host
    // without a scheme is looked for only there, as a whole token.
    let mut lead = lead && !cut;
    let mut i = 0;
    while i < v.len() && i < stop {
        if !lead {
            // Only these bytes can begin something now.
            match v[i..]
                .iter()
                .position(|&b| matches!(b, b'(' | b':' | b'=' | b'/'))
            {
                Some(k) if i + k < stop => i += k,
                _ => return,
            }
        }
        let b = v[i];
        let mut cand = None;
        let mut unknown = false;
        // Link targets: `](dest)`, `]:dest`, `attr=dest`.
        let target = match b {
            b'(' if before(i) == Some(b']') => Some(match v.get(i + 1) {
                Some(b'<') => (i + 2, End::Until(b'>')),
                _ => (i + 1, End::Paren),
            }),
            b':' if before(i) == Some(b']') => Some((i + 1, End::Prose)),
            b'=' if url_attr(v, i) => Some(match v.get(i + 1) {
                Some(&q @ (b'"' | b'\'')) => (i + 2, End::Until(q)),
                _ => (i + 1, End::Attr),
            }),
            _ => None,
        };
        if let Some((s, rule)) = target.filter(|&(s, _)| s < v.len()) {
            cand = Some((s, How::Target, rule));
        } else if b == b':' {
            if let Some((s, reaches)) = scheme_before(v, floor, i) {
                unknown = reaches && floor == 0 && cut;
                let scheme = match unknown {
                    true => String::new(),
                    false => String::from_utf8_lossy(&v[s..i]).to_ascii_lowercase(),
                };
                let rest = &v[i + 1..];
                if scheme_in_prose(&scheme, rest) || (unknown && rest.starts_with(b"//")) {
                    cand = Some((s, How::Scheme, prose_end(before(s))));
                }
            }
        } else if b == b'/'
            && v.get(i + 1) == Some(&b'/')
            && before(i).is_none_or(|p| !is_word_byte(p) && !b"/\\:@%".contains(&p))
        {
            cand = Some((i, How::Relative, prose_end(before(i))));
        } else if lead && is_word_byte(b) && b != b'.' {
            // A host is a word with a dot (or an ideographic one).
            let w = v[i..].iter().take_while(|&&c| is_word_byte(c)).count();
            if v[i..i + w].contains(&b'.') {
                cand = Some((i, How::Bare, prose_end(before(i))));
            }
            lead = false;
        }
        lead &= LEAD.contains(&b);
        let Some((s, how, rule)) = cand else {
            i += 1;
            continue;
        };
        if s >= stop {
            return;
        }
        let (end, depth, closed) = extent(v, s, rule, 0, last);
        let c = Candidate {
            start: s,
            end,
            how,
            rule,
            depth,
            open: !closed,
            cut: unknown,
            autolink: how == How::Scheme && before(s).is_none_or(|p| b"*_~(".contains(&p)),
        };
        match found(c) {
            Flow::Stop => return,
            Flow::Into => i += 1,
            Flow::Past => {
                i = end.max(i + 1);
                floor = i;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_character_references() {
        let v = View::new("java&#x09;script&colon;x&#106avascript:&amp;&bogus;");
        assert_eq!(v.text, "javascript:xjavascript:&&bogus;");
        assert_eq!(v.src(4), 10);
        assert_eq!(v.src(10), 16);
        assert!(!v.literal(10));
        assert!(v.literal(0));
        assert_eq!(v.src(v.text.len()), 51);
        let plain = View::new("no refs");
        assert!(matches!(plain.text, Cow::Borrowed(_)));
        // Fullwidth letters decode and fold; nothing breaks on huge numbers.
        assert_eq!(
            View::new("&#xFF48;&#99999999999;&#0;").text,
            "h\u{FFFD}\u{FFFD}"
        );
    }

    #[test]
    fn trims_sentence_punctuation_and_unopened_brackets() {
        fn t(s: &str) -> &str {
            &s[..trim_end(s.as_bytes(), 0, s.len())]
        }
        assert_eq!(t("https://x.io/a."), "https://x.io/a");
        assert_eq!(t("https://x.io/a_(b))."), "https://x.io/a_(b)");
        assert_eq!(t("x.io\u{3002}"), "x.io");
        assert_eq!(t("x.io'!"), "x.io");
    }

    #[test]
    fn breaks_at_punctuation_not_letters() {
        let text = "a\u{3002}b 例\u{3002}え、x—y";
        let bytes = text.as_bytes();
        let mask = breaks(bytes, 0, bytes.len());
        let broken: String = text
            .char_indices()
            .filter(|&(i, _)| mask >> i & 1 == 1)
            .map(|(_, c)| c)
            .collect();
        assert_eq!(broken, "\u{3002}、—");
    }
}
