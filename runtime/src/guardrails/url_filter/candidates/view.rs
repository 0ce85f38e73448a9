//! A token decoded for reading URLs in it: HTML character references
//! replaced, with a map back to the token's bytes.

use super::*;

/// A token decoded: HTML character references replaced, with a map back to
/// the token's bytes.
pub(crate) struct View<'a> {
    pub(crate) text: Cow<'a, str>,
    /// For each byte of `text` (and one past its end), the offset in the
    /// token it came from; `None` when nothing was decoded.
    pub(super) map: Option<Vec<usize>>,
    pub(super) len: usize,
}

impl<'a> View<'a> {
    /// Decodes `tok`; borrows it when it holds no `&`.
    pub(crate) fn new(tok: &'a str) -> Self {
        if !tok.contains('&') {
            return Self {
                text: Cow::Borrowed(tok),
                map: None,
                len: tok.len(),
            };
        }
        let mut text = String::with_capacity(tok.len());
        let mut map = Vec::with_capacity(tok.len() + 1);
        let mut i = 0;
        while i < tok.len() {
            if let Some((decoded, n)) = char_ref(&tok[i..]) {
                for c in fold_str(decoded.encode_utf8(&mut [0; 4]), Fold::Exact).chars() {
                    // A URL parser drops tabs and line breaks anywhere.
                    if !matches!(c, '\t' | '\n' | '\r') {
                        text.push(c);
                        map.resize(text.len(), i);
                    }
                }
                i += n;
                continue;
            }
            let Some(c) = tok[i..].chars().next() else {
                break;
            };
            text.push(c);
            for k in 0..c.len_utf8() {
                map.push(i + k);
            }
            i += c.len_utf8();
        }
        map.push(tok.len());
        Self {
            text: Cow::Owned(text),
            map: Some(map),
            len: tok.len(),
        }
    }

    /// The token offset of decoded offset `i`.
    pub(crate) fn src(&self, i: usize) -> usize {
        match &self.map {
            None => i,
            Some(map) => map.get(i).copied().unwrap_or(self.len),
        }
    }

    /// Whether decoded byte `i` stands for itself in the token (was not
    /// decoded from a reference).
    pub(crate) fn literal(&self, i: usize) -> bool {
        match &self.map {
            None => true,
            Some(map) => map
                .get(i + 1)
                .zip(map.get(i))
                .is_some_and(|(b, a)| b - a == 1),
        }
    }
}

/// Named references worth decoding: those that spell URL syntax or the
/// characters a URL parser drops.
pub(super) const NAMED: &[(&str, char)] = &[
    ("colon", ':'),
    ("sol", '/'),
    ("bsol", '\\'),
    ("period", '.'),
    ("commat", '@'),
    ("quest", '?'),
    ("num", '#'),
    ("percnt", '%'),
    ("lpar", '('),
    ("rpar", ')'),
    ("lsqb", '['),
    ("rsqb", ']'),
    ("lbrack", '['),
    ("rbrack", ']'),
    ("equals", '='),
    ("amp", '&'),
    ("quot", '"'),
    ("apos", '\''),
    ("lt", '<'),
    ("gt", '>'),
    ("Tab", '\t'),
    ("NewLine", '\n'),
    ("hyphen", '-'),
    ("dash", '-'),
    ("lowbar", '_'),
    ("excl", '!'),
];

/// A character reference at the start of `s` (`&#106;`, `&#x6A;`, `&colon;`):
/// what it stands for and its length. Numeric ones may lack the `;`, as
/// HTML allows; a code point that is none stands for U+FFFD.
pub(super) fn char_ref(s: &str) -> Option<(char, usize)> {
    let b = s.as_bytes();
    if b.first() != Some(&b'&') {
        return None;
    }
    if b.get(1) == Some(&b'#') {
        let hex = matches!(b.get(2), Some(b'x' | b'X'));
        let from = if hex { 3 } else { 2 };
        let digits = b[from..]
            .iter()
            .take_while(|d| match hex {
                true => d.is_ascii_hexdigit(),
                false => d.is_ascii_digit(),
            })
            .count();
        if digits == 0 {
            return None;
        }
        let text = &s[from..from + digits];
        let value = u32::from_str_radix(text.trim_start_matches('0'), if hex { 16 } else { 10 })
            .unwrap_or(if text.trim_start_matches('0').is_empty() {
                0
            } else {
                u32::MAX
            });
        let c = match value {
            0 => '\u{FFFD}',
            v => char::from_u32(v).unwrap_or('\u{FFFD}'),
        };
        let end = from + digits;
        let n = if b.get(end) == Some(&b';') {
            end + 1
        } else {
            end
        };
        return Some((c, n));
    }
    let name_len = b[1..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    if b.get(1 + name_len) != Some(&b';') {
        return None;
    }
    let name = &s[1..1 + name_len];
    NAMED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, c)| (c, name_len + 2))
}
