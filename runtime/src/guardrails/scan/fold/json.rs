//! Folding JSON text (tool-call arguments) so that what its strings *mean*
//! is matched, not how they are escaped.
//!
//! A model can spell a value in JSON escapes: `"\u0061cme"` is `acme`,
//! `"jane\u0040example.com"` an e-mail address, `"https:\/\/evil.test"` a
//! URL. Inside a string, each escape (`\"`, `\\`, `\/`, `\b`, `\f`, `\n`,
//! `\r`, `\t`, `\uXXXX`, and a surrogate pair `\uD83D\uDE00` as one
//! character) folds to the fold of the character it stands for, with a
//! mark mapping it back to the whole escape, so a match covers whole
//! escapes and masking never cuts one. An escape that a chunk ends inside
//! is held back, unfolded, until the rest arrives (at most 11 bytes). A lone
//! surrogate reads as U+FFFD; an invalid escape is folded as the characters
//! it is made of. Outside strings, text folds as usual.
//!
//! The quotes that open and close strings are recorded, so the scan can
//! tell whether a match lies inside one string: only there can it be
//! replaced and leave valid JSON.

use std::collections::VecDeque;

use super::{Mark, Window};

/// Lexer state of a JSON text, carried from chunk to chunk.
#[derive(Debug, Default)]
pub(crate) struct JsonLex {
    in_string: bool,
    /// Absolute original offsets of the string quotes still in the window.
    quotes: VecDeque<usize>,
    /// How many string quotes came before those in `quotes`.
    quotes_before: u64,
}

/// What the escape at the start of `b` (which starts with `\`) stands for,
/// and its length: `None` when `b` ends before the escape does.
fn escape(b: &[u8]) -> Option<(char, usize)> {
    let simple = |c: char| Some((c, 2));
    match *b.get(1)? {
        b'"' => simple('"'),
        b'\\' => simple('\\'),
        b'/' => simple('/'),
        b'b' => simple('\u{8}'),
        b'f' => simple('\u{c}'),
        b'n' => simple('\n'),
        b'r' => simple('\r'),
        b't' => simple('\t'),
        b'u' => {
            let hi = hex4(b.get(2..6)?)?;
            if !(0xD800..0xDC00).contains(&hi) {
                return Some((char::from_u32(hi).unwrap_or('\u{FFFD}'), 6));
            }
            // A high surrogate: a low one must follow at once.
            match b.get(6..8) {
                None if b.len() < 8 && b[6..].iter().zip(b"\\u").all(|(x, y)| x == y) => None,
                Some(b"\\u") => match b.get(8..12) {
                    None if b[8..].iter().all(u8::is_ascii_hexdigit) => None,
                    Some(h) => match hex4(h) {
                        Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                            let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                            Some((char::from_u32(c).unwrap_or('\u{FFFD}'), 12))
                        }
                        _ => Some(('\u{FFFD}', 6)),
                    },
                    None => Some(('\u{FFFD}', 6)),
                },
                _ => Some(('\u{FFFD}', 6)),
            }
        }
        // Not an escape: the backslash is itself.
        _ => Some(('\\', 1)),
    }
}

/// The value of four hex digits; `None` when they are not (a partial
/// escape that can no longer complete is read as itself).
fn hex4(h: &[u8]) -> Option<u32> {
    h.iter().try_fold(0, |n, &b| {
        let d = char::from(b).to_digit(16)?;
        Some(n * 16 + d)
    })
}

/// Whether `b` (starting with `\`) could still become a complete escape.
fn incomplete(b: &[u8]) -> bool {
    match b.get(1) {
        None => true,
        Some(b'u') => b[2..].iter().take(4).all(u8::is_ascii_hexdigit) && b.len() < 12,
        Some(_) => false,
    }
}

impl JsonLex {
    /// A lexer that starts inside a string or not.
    pub(crate) fn starting(in_string: bool) -> Self {
        Self {
            in_string,
            quotes: VecDeque::new(),
            quotes_before: u64::from(in_string),
        }
    }

    /// Whether original offset `o` (at or after the quotes forgotten) lies
    /// inside a string.
    pub(crate) fn in_string_at(&self, o: usize) -> bool {
        let before = self.quotes.partition_point(|&q| q < o);
        (self.quotes_before + before as u64) % 2 == 1
    }

    /// Whether the original text between `os` and `oe` lies inside one
    /// string: it starts inside a string and no string quote falls in it.
    pub(crate) fn inside_one_string(&self, os: usize, oe: usize) -> bool {
        let before = self.quotes.partition_point(|&q| q < os);
        let crosses = self.quotes.get(before).is_some_and(|&q| q < oe);
        self.in_string_at(os) && !crosses
    }

    /// Forgets the quotes before original offset `o`.
    pub(crate) fn forget_before(&mut self, o: usize) {
        while self.quotes.front().is_some_and(|&q| q < o) {
            self.quotes.pop_front();
            self.quotes_before += 1;
        }
    }
}

impl Window {
    /// As [`append_folded`](Self::append_folded), for JSON text: escapes
    /// inside strings fold to what they stand for. Returns how many bytes
    /// of `text` were taken: all of them with `eoi`, otherwise all but an
    /// escape the text ends inside, which the caller keeps for the next
    /// piece.
    pub(crate) fn append_folded_json(&mut self, text: &str, lex: &mut JsonLex, eoi: bool) -> usize {
        let base = self.orig_end();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            // Plain ASCII up to the next byte that means something here: a
            // quote, a backslash inside a string, a line break that ends an
            // override.
            let run = self.plain_ascii(&bytes[i..]);
            let stop = bytes[i..i + run]
                .iter()
                .position(|&b| b == b'"' || (lex.in_string && b == b'\\'))
                .unwrap_or(run);
            self.folded.extend_from_slice(&bytes[i..i + stop]);
            i += stop;
            let Some(&b) = bytes.get(i) else {
                break;
            };
            match b {
                b'"' => {
                    lex.quotes.push_back(base + i);
                    lex.in_string = !lex.in_string;
                    self.folded.push(b'"');
                    i += 1;
                }
                b'\\' if lex.in_string => {
                    let rest = &bytes[i..];
                    if !eoi && incomplete(rest) && escape(rest).is_none() {
                        return i;
                    }
                    let (c, len) = escape(rest).unwrap_or(('\\', 1));
                    if len == 1 {
                        self.folded.push(b'\\');
                    } else {
                        self.mark(c, base + i, len);
                    }
                    i += len;
                }
                _ if b.is_ascii() => {
                    self.push_ascii(b);
                    i += 1;
                }
                _ => {
                    // A non-ASCII character.
                    let Some(c) = text.get(i..).and_then(|t| t.chars().next()) else {
                        break;
                    };
                    self.fold_at(c, base + i, c.len_utf8());
                    i += c.len_utf8();
                }
            }
        }
        bytes.len()
    }

    /// Folds `c`, which an escape of `len` original bytes at `os` spells,
    /// with a mark mapping one to the other.
    fn mark(&mut self, c: char, os: usize, len: usize) {
        if !c.is_ascii() {
            return self.fold_at(c, os, len);
        }
        let fs = self.fold_base + self.folded.len();
        self.push_ascii(c as u8);
        self.marks.push_back(Mark {
            fs,
            fe: fs + 1,
            os,
            oe: os + len,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::Fold;
    use super::*;

    fn fold_json(pieces: &[&str]) -> (String, usize) {
        let mut w = Window::new(Fold::Exact);
        let mut lex = JsonLex::default();
        let mut pending = String::new();
        for (k, p) in pieces.iter().enumerate() {
            let mut text = std::mem::take(&mut pending);
            text.push_str(p);
            let n = w.append_folded_json(&text, &mut lex, k + 1 == pieces.len());
            pending = text.split_off(n);
            w.push_orig(&text);
        }
        (
            String::from_utf8(w.folded().to_vec()).unwrap(),
            pending.len(),
        )
    }

    #[test]
    fn escapes_fold_to_what_they_stand_for_in_any_chunking() {
        let json =
            r#"{"q":"\u0061cme \"x\" https:\/\/evil.test \uD83D\uDE00 \ud800!","n":"\u00e9"}"#;
        let want =
            "{\"q\":\"acme \"x\" https://evil.test \u{1F600} \u{FFFD}!\",\"n\":\"e\u{301}\"}";
        assert_eq!(fold_json(&[json]).0, want);
        for cut in 1..json.len() {
            let (a, b) = json.split_at(cut);
            assert_eq!(fold_json(&[a, b]), (want.to_owned(), 0), "cut at {cut}");
        }
        // Outside strings a backslash is itself; an unfinished escape at the
        // very end is folded as it is.
        assert_eq!(fold_json(&[r#"\u0061"#]).0, r#"\u0061"#);
        assert_eq!(fold_json(&[r#""\u00"#]).0, r#""\u00"#);
    }

    #[test]
    fn knows_which_spans_lie_inside_one_string() {
        let json = r#"{"a":"xy","b":12}"#;
        let mut w = Window::new(Fold::Exact);
        let mut lex = JsonLex::default();
        w.append_folded_json(json, &mut lex, true);
        let at = |s: &str| json.find(s).unwrap();
        assert!(lex.inside_one_string(at("xy"), at("xy") + 2));
        assert!(!lex.inside_one_string(at("a"), at("xy")));
        assert!(!lex.inside_one_string(at("12"), at("12") + 2));
        lex.forget_before(at("b"));
        assert!(!lex.inside_one_string(at("12"), at("12") + 2));
    }
}
