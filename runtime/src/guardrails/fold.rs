//! Folding text for matching, and mapping matches back to the original.
//!
//! Guardrails match on a *folded* copy of the text so that look-alike
//! spellings of a term still match, and emit the *original* text for
//! everything that did not match. The fold works one character at a time
//! (which is what lets it run on a stream without holding text back for it):
//!
//! - ASCII is kept as is. Case-insensitive matchers fold ASCII case
//!   themselves (Aho-Corasick's ASCII case folding), so ASCII text, the
//!   common case, is scanned without being copied through the fold.
//! - Any other character is replaced by its Unicode compatibility
//!   decomposition (NFKD, per character), so fullwidth `ｓｋ－` reads as
//!   `sk-`, the ligature `ﬁ` as `fi`, a precomposed `é` and `e` + U+0301 read
//!   the same, and superscripts, circled and mathematical letters read as
//!   their plain letters. In [`Fold::Caseless`] mode the result is also
//!   lowercased.
//! - Default-ignorable code points (zero-width space, joiners, BOM, soft
//!   hyphen, variation selectors, bidi controls, tags) fold to nothing, so
//!   `ac\u{200B}me` reads as `acme`.
//!
//! Per-character NFKD equals NFKD of the whole text except for the canonical
//! reordering of stacked combining marks, which no guardrail pattern relies
//! on. The tables come from `unicode-normalization`; the ignorable ranges
//! below are Unicode's `Default_Ignorable_Code_Point` property.
//!
//! [`Window`] keeps the original text a guardrail still holds, its folded
//! bytes, and for each non-ASCII character where its fold starts and ends, so
//! a match found in folded bytes maps back to whole original characters.
//!
//! Characters that fold to nothing take no room in the folded text, so a
//! detector's cap (in folded bytes) does not bound them. The window counts
//! the original bytes of those it holds, and [`Window::shed_ignorable`]
//! bounds them: the ones that sit before everything held are released, and
//! past a budget the others are dropped. Neither changes the folded text, so
//! neither changes what a detector finds.

mod json;

use std::collections::VecDeque;
use std::sync::LazyLock;

use unicode_normalization::char::decompose_compatible;

pub(crate) use json::JsonLex;

/// How text is folded before matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fold {
    /// Compatibility decomposition and ignorables removed; case kept.
    Exact = 0,
    /// As [`Fold::Exact`], and non-ASCII letters lowercased (the matcher
    /// folds ASCII case itself).
    Caseless = 1,
}

/// Unicode `Default_Ignorable_Code_Point` ranges (DerivedCoreProperties).
const IGNORABLE: [(u32, u32); 17] = [
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
];

/// Whether `c` is invisible and folds to nothing.
pub(crate) fn is_ignorable(c: char) -> bool {
    let c = c as u32;
    IGNORABLE.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// Characters whose folds are computed once: Latin-1 Supplement and Latin
/// Extended-A/B (`U+0080..U+0250`), and General Punctuation
/// (`U+2000..U+2070`: dashes, quotes, zero-width characters), where most
/// non-ASCII text of chat replies falls.
const CACHED: [(u32, u32); 2] = [(0x80, 0x250), (0x2000, 0x2070)];

/// Folds of the [`CACHED`] ranges, `[exact, caseless]`.
static FOLDS: LazyLock<[Vec<Box<[u8]>>; 2]> = LazyLock::new(|| {
    let fold = |mode| {
        CACHED
            .iter()
            .flat_map(|&(lo, hi)| lo..hi)
            .map(|c| {
                let mut out = Vec::new();
                if let Some(c) = char::from_u32(c) {
                    fold_uncached(c, mode, &mut out);
                }
                out.into_boxed_slice()
            })
            .collect()
    };
    [fold(Fold::Exact), fold(Fold::Caseless)]
});

/// Index of `c` in [`FOLDS`], if cached.
fn cache_index(c: char) -> Option<usize> {
    let c = c as u32;
    let mut offset = 0;
    for (lo, hi) in CACHED {
        if (lo..hi).contains(&c) {
            return Some(offset + (c - lo) as usize);
        }
        offset += (hi - lo) as usize;
    }
    None
}

/// Appends the fold of the non-ASCII character `c` to `out`.
fn fold_char(c: char, mode: Fold, out: &mut Vec<u8>) {
    match cache_index(c) {
        Some(i) => out.extend_from_slice(&FOLDS[mode as usize][i]),
        None => fold_uncached(c, mode, out),
    }
}

/// Appends the fold of `c` to `out`, computed.
fn fold_uncached(c: char, mode: Fold, out: &mut Vec<u8>) {
    if is_ignorable(c) {
        return;
    }
    let mut buf = [0u8; 4];
    decompose_compatible(c, |d| {
        if is_ignorable(d) {
            return;
        }
        match mode {
            Fold::Exact => out.extend_from_slice(d.encode_utf8(&mut buf).as_bytes()),
            Fold::Caseless => {
                for l in d.to_lowercase() {
                    out.extend_from_slice(l.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
    });
}

/// The whole fold of `s`, ASCII included (ASCII lowercased in
/// [`Fold::Caseless`] mode): how configured terms are normalised.
pub(crate) fn fold_str(s: &str, mode: Fold) -> String {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(match mode {
                Fold::Exact => c as u8,
                Fold::Caseless => c.to_ascii_lowercase() as u8,
            });
        } else {
            fold_char(c, mode, &mut out);
        }
    }
    // The fold of valid UTF-8 is valid UTF-8: every piece came from a `char`.
    String::from_utf8(out).unwrap_or_default()
}

/// Whether the character `c` counts as part of a word for word boundaries:
/// letters, digits, `_`, and combining marks (so `cafe` does not match
/// inside `café`, which folds to `cafe` + U+0301).
pub(crate) fn is_word_char(c: char) -> bool {
    /// Answers for `U+0000..U+0370` (through the combining diacritical
    /// marks that folding produces) and for General Punctuation
    /// (`U+2000..U+2070`: dashes and quotes, common in replies and kept by
    /// the fold), computed once: the Unicode property lookups behind the
    /// others take tens of nanoseconds.
    static LOW: LazyLock<Vec<bool>> = LazyLock::new(|| {
        (0..0x370)
            .chain(0x2000..0x2070)
            .filter_map(char::from_u32)
            .map(word_char_uncached)
            .collect()
    });
    let i = match c as usize {
        i @ 0..0x370 => i,
        i @ 0x2000..0x2070 => i - 0x2000 + 0x370,
        _ => return word_char_uncached(c),
    };
    LOW[i]
}

fn word_char_uncached(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || c == '_'
    } else {
        c.is_alphanumeric() || unicode_normalization::char::is_combining_mark(c)
    }
}

/// How many bytes at the start of `bytes` are ASCII, eight at a time: the
/// first word with a high bit set tells where the first non-ASCII byte is
/// from its lowest such bit, so the run's end costs one branch, not a
/// second, byte-by-byte loop.
fn ascii_prefix(bytes: &[u8]) -> usize {
    let mut words = bytes.chunks_exact(8);
    let mut n = 0;
    for w in &mut words {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let high = x & 0x8080_8080_8080_8080;
        if high != 0 {
            return n + (high.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + words
        .remainder()
        .iter()
        .position(|b| !b.is_ascii())
        .unwrap_or(words.remainder().len())
}

/// One non-ASCII character: where its fold sits and where it sits in the
/// original text (absolute offsets since the stream started).
#[derive(Debug, Clone, Copy)]
struct Mark {
    fs: usize,
    fe: usize,
    os: usize,
    oe: usize,
}

/// The text a guardrail still holds: original and folded, with the map
/// between them.
///
/// Positions are absolute byte offsets since the stream started, in folded
/// (`f`) or original (`o`) text; ASCII maps one to one, and each non-ASCII
/// character has a [`Mark`].
#[derive(Debug)]
pub(crate) struct Window {
    mode: Fold,
    /// Held original text; `orig[0]` is at `orig_base`.
    orig: String,
    orig_base: usize,
    /// Folded bytes; `folded[0]` is at `fold_base`. May start a few bytes
    /// before the held original text (context for look-behind).
    folded: Vec<u8>,
    fold_base: usize,
    marks: VecDeque<Mark>,
    /// A point where folded and original offsets correspond, at or before
    /// every kept mark: offsets after it and before the first mark map one
    /// to one from it.
    ref_f: usize,
    ref_o: usize,
    /// Original bytes of the kept marks that fold to nothing.
    ignorable: usize,
}

impl Window {
    /// An empty window at the start of a stream.
    pub(crate) fn new(mode: Fold) -> Self {
        Self {
            mode,
            orig: String::new(),
            orig_base: 0,
            folded: Vec::new(),
            fold_base: 0,
            marks: VecDeque::new(),
            ref_f: 0,
            ref_o: 0,
            ignorable: 0,
        }
    }

    /// Adds `text` at the end.
    pub(crate) fn append(&mut self, text: &str) {
        self.append_folded(text);
        self.orig.push_str(text);
    }

    /// Adds the fold of `text` (and its marks) but not yet the original:
    /// the caller either [`settle`](Self::settle)s, which copies only what
    /// stays held, or [`push_orig`](Self::push_orig)s the text.
    pub(crate) fn append_folded(&mut self, text: &str) {
        if text.is_ascii() {
            self.folded.extend_from_slice(text.as_bytes());
            return;
        }
        // Copy ASCII runs whole; fold the other characters one by one.
        let base = self.orig_end();
        let bytes = text.as_bytes();
        // Folds rarely grow text by much: one reservation for most chunks.
        self.folded.reserve(bytes.len() + bytes.len() / 4);
        let mut i = 0;
        while i < bytes.len() {
            let run = ascii_prefix(&bytes[i..]);
            self.folded.extend_from_slice(&bytes[i..i + run]);
            i += run;
            let Some(c) = text.get(i..).and_then(|t| t.chars().next()) else {
                break;
            };
            let len = c.len_utf8();
            let fs = self.fold_base + self.folded.len();
            fold_char(c, self.mode, &mut self.folded);
            let fe = self.fold_base + self.folded.len();
            if fe == fs {
                self.ignorable += len;
            }
            self.marks.push_back(Mark {
                fs,
                fe,
                os: base + i,
                oe: base + i + len,
            });
            i += len;
        }
    }

    /// After [`append_folded`](Self::append_folded): the original too.
    pub(crate) fn push_orig(&mut self, text: &str) {
        self.orig.push_str(text);
    }

    /// After [`append_folded`](Self::append_folded), when nothing in the
    /// window matched: turns `text` into what may be emitted, the held text
    /// before it followed by `text` up to original offset `cut`, holds the
    /// rest of `text`, and keeps folded bytes from `keep_f`. Only the held
    /// part is copied into the window. Returns `false` (changing nothing)
    /// when `cut` falls in text held from before.
    pub(crate) fn settle(&mut self, text: &mut String, cut: usize, keep_f: usize) -> bool {
        let start = self.orig_end();
        if cut < start {
            return false;
        }
        let keep = (cut - start).min(text.len());
        let held = self.orig.len();
        self.orig.push_str(&text[keep..]);
        text.truncate(keep);
        if held > 0 {
            text.insert_str(0, &self.orig[..held]);
            self.orig.drain(..held);
        }
        self.orig_base = start + keep;
        self.consume(self.orig_base, keep_f);
        true
    }

    /// The held original text.
    pub(crate) fn orig(&self) -> &str {
        &self.orig
    }

    /// Absolute offset of the first held original byte.
    pub(crate) fn orig_base(&self) -> usize {
        self.orig_base
    }

    /// Absolute offset just past the held original text.
    pub(crate) fn orig_end(&self) -> usize {
        self.orig_base + self.orig.len()
    }

    /// The folded bytes, starting at [`fold_base`](Self::fold_base).
    pub(crate) fn folded(&self) -> &[u8] {
        &self.folded
    }

    /// Absolute folded offset of `folded()[0]`.
    pub(crate) fn fold_base(&self) -> usize {
        self.fold_base
    }

    /// Absolute folded offset just past the folded text.
    pub(crate) fn fold_end(&self) -> usize {
        self.fold_base + self.folded.len()
    }

    /// Whether nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.orig.is_empty()
    }

    /// Original offset of folded offset `f` in a gap between marks, given the
    /// mark just before `f` (if any).
    fn identity(&self, before: Option<&Mark>, f: usize) -> usize {
        match before {
            Some(m) => m.oe + (f - m.fe),
            None => self.ref_o + f.saturating_sub(self.ref_f),
        }
    }

    /// Original offset where a match starting at folded `f` starts: the start
    /// of the character `f` falls in, before any ignorable characters that
    /// sit at `f`.
    pub(crate) fn down(&self, f: usize) -> usize {
        let i = self.marks.partition_point(|m| m.fe <= f && m.fs < f);
        match self.marks.get(i) {
            Some(m) if m.fs <= f => m.os,
            _ => self.identity(i.checked_sub(1).and_then(|j| self.marks.get(j)), f),
        }
    }

    /// Original offset where a match ending at folded `f` ends: the end of
    /// the character `f` falls in, after any ignorable characters that sit
    /// at `f`.
    pub(crate) fn up(&self, f: usize) -> usize {
        let i = self.marks.partition_point(|m| m.fe <= f);
        match self.marks.get(i) {
            Some(m) if m.fs < f => m.oe,
            _ => self.identity(i.checked_sub(1).and_then(|j| self.marks.get(j)), f),
        }
    }

    /// Forgets original text before absolute offset `o` (already emitted),
    /// and folded bytes before `keep_f`.
    pub(crate) fn consume(&mut self, o: usize, keep_f: usize) {
        let n = o.saturating_sub(self.orig_base).min(self.orig.len());
        self.orig.drain(..n);
        self.orig_base += n;
        while let Some(m) = self.marks.front() {
            if m.oe > self.orig_base {
                break;
            }
            if m.fs == m.fe {
                self.ignorable -= m.oe - m.os;
            }
            self.ref_f = m.fe;
            self.ref_o = m.oe;
            self.marks.pop_front();
        }
        let k = keep_f.saturating_sub(self.fold_base).min(self.folded.len());
        self.folded.drain(..k);
        self.fold_base += k;
    }

    /// Original bytes held of characters that fold to nothing (zero-width
    /// spaces, joiners, BOMs, soft hyphens, bidi controls, tags...).
    pub(crate) fn ignorable(&self) -> usize {
        self.ignorable
    }

    /// Bounds the characters held that fold to nothing, once all text has
    /// been appended: those at the start of the held text are appended to
    /// `out` (emitted, as no match can take them from there: they sit
    /// before the first folded byte held), and of the rest the first
    /// `budget` bytes are kept and the others dropped. The folded text and
    /// every folded offset stay as they were; original offsets after a
    /// dropped character move back by its length, as the text that reaches
    /// the caller does.
    pub(crate) fn shed_ignorable(&mut self, out: &mut String, budget: usize) {
        // Leading ones: a run of marks that fold to nothing from the start.
        let mut lead = self.orig_base;
        for m in &self.marks {
            if m.os != lead || m.fs != m.fe {
                break;
            }
            lead = m.oe;
        }
        if lead > self.orig_base {
            out.push_str(&self.orig[..lead - self.orig_base]);
            self.consume(lead, self.fold_base);
        }
        if self.ignorable <= budget {
            return;
        }
        let base = self.orig_base;
        let orig = &self.orig;
        let mut kept = String::with_capacity(orig.len());
        let (mut left, mut from, mut dropped) = (budget, base, 0);
        self.marks.retain_mut(|m| {
            let len = m.oe - m.os;
            if m.fs == m.fe {
                if len > left {
                    kept.push_str(&orig[from - base..m.os - base]);
                    from = m.oe;
                    dropped += len;
                    return false;
                }
                left -= len;
            }
            m.os -= dropped;
            m.oe -= dropped;
            true
        });
        kept.push_str(&orig[from - base..]);
        self.orig = kept;
        self.ignorable = budget - left;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_fullwidth_ligatures_and_zero_width() {
        assert_eq!(fold_str("ＡＣＭＥ", Fold::Caseless), "acme");
        assert_eq!(fold_str("ＡＣＭＥ", Fold::Exact), "ACME");
        assert_eq!(
            fold_str("ac\u{200B}m\u{200D}e\u{FEFF}", Fold::Exact),
            "acme"
        );
        assert_eq!(fold_str("ﬁle", Fold::Exact), "file");
        assert_eq!(fold_str("É", Fold::Caseless), "e\u{301}");
        assert_eq!(
            fold_str("é", Fold::Caseless),
            fold_str("e\u{301}", Fold::Caseless)
        );
    }

    /// The fold is found 64 bytes at a time: non-ASCII characters at, just
    /// before and across block edges, ASCII runs spanning blocks, and
    /// several characters in a row must fold and map as one character at a
    /// time would, whatever the chunking.
    #[test]
    fn folds_across_block_edges() {
        let pieces = ["é", "Ａ", "\u{200B}", "𝐀", "—", "ﬁ", "ü"];
        for pad in [0, 1, 7, 8, 61, 62, 63, 64, 65, 127, 128, 200] {
            for p in pieces {
                for q in pieces {
                    let text = format!("{}{p}{q}{}{p}x", "a".repeat(pad), "b".repeat(pad));
                    for chunk in [1, 5, 64, 1000] {
                        let mut w = Window::new(Fold::Caseless);
                        let mut start = 0;
                        while start < text.len() {
                            let mut end = (start + chunk).min(text.len());
                            while !text.is_char_boundary(end) {
                                end += 1;
                            }
                            w.append(&text[start..end]);
                            start = end;
                        }
                        assert_eq!(
                            w.folded(),
                            fold_str(&text, Fold::Caseless).as_bytes(),
                            "{text:?} in chunks of {chunk}"
                        );
                        // Every folded offset maps to whole characters, as
                        // folding one character at a time gives: a match
                        // starting at `f` starts with the first character
                        // ending after `f` or folding to nothing at `f`, one
                        // ending at `f` ends with the last character starting
                        // before `f` or folding to nothing at `f`.
                        let mut chars = Vec::new();
                        let mut f = 0;
                        for (o, c) in text.char_indices() {
                            let len = fold_str(c.encode_utf8(&mut [0; 4]), Fold::Caseless).len();
                            chars.push((f, f + len, o, o + c.len_utf8()));
                            f += len;
                        }
                        for f in 0..=w.fold_end() {
                            let at = |fs: usize, fe: usize| fs == f && fe == f;
                            let down = chars
                                .iter()
                                .find(|&&(fs, fe, ..)| fe > f || at(fs, fe))
                                .map_or(text.len(), |c| c.2);
                            let up = chars
                                .iter()
                                .rev()
                                .find(|&&(fs, fe, ..)| fs < f || at(fs, fe))
                                .map_or(0, |c| c.3);
                            assert_eq!(w.down(f), down, "{text:?} down({f})");
                            assert_eq!(w.up(f), up, "{text:?} up({f})");
                        }
                        assert_eq!(w.orig(), text);
                    }
                }
            }
        }
    }

    #[test]
    fn ascii_prefix_counts_ascii_bytes() {
        assert_eq!(ascii_prefix(b""), 0);
        assert_eq!(ascii_prefix(b"abc"), 3);
        assert_eq!(ascii_prefix("0123456789abcdefé".as_bytes()), 16);
        assert_eq!(ascii_prefix("01234é".as_bytes()), 5);
        // The first non-ASCII byte at every place in a word and after it.
        for at in 0..20 {
            let mut bytes = vec![b'a'; 20];
            bytes[at] = 0xC3;
            if at + 1 < 20 {
                bytes[at + 1] = 0x80;
            }
            assert_eq!(ascii_prefix(&bytes), at);
        }
    }

    #[test]
    fn word_chars_include_marks() {
        assert!(is_word_char('a'));
        assert!(is_word_char('_'));
        assert!(is_word_char('\u{301}'));
        assert!(is_word_char('ж'));
        assert!(!is_word_char(' '));
        assert!(!is_word_char('-'));
        // The cached ranges and the edges around them answer as computed.
        for c in (0..0x400).chain(0x1FF0..0x2080).filter_map(char::from_u32) {
            assert_eq!(is_word_char(c), word_char_uncached(c), "{c:?}");
        }
    }

    #[test]
    fn maps_folded_offsets_to_whole_original_chars() {
        let mut w = Window::new(Fold::Caseless);
        // "x" + fullwidth "Ａ" (3 bytes, folds to "a") + ZWSP (3 bytes, folds
        // to nothing) + "b"
        w.append("xＡ\u{200B}b");
        assert_eq!(w.folded(), b"xab");
        assert_eq!(w.down(1), 1);
        assert_eq!(w.up(1), 1);
        // The ignorable sits at folded offset 2: a match starting there
        // includes it, a match ending there includes it too.
        assert_eq!(w.down(2), 4);
        assert_eq!(w.up(2), 7);
        assert_eq!(w.up(3), 8);
        assert_eq!(w.down(3), 8);
        w.consume(4, 1);
        assert_eq!(w.orig(), "\u{200B}b");
        assert_eq!(w.down(2), 4);
        assert_eq!(w.up(3), 8);
        w.consume(8, 3);
        w.append("cＢ");
        assert_eq!(w.down(3), 8);
        assert_eq!(w.down(4), 9);
        assert_eq!(w.up(5), 12);
    }

    #[test]
    fn sheds_ignorables_without_moving_folded_offsets() {
        let zw = "\u{200B}";
        let mut w = Window::new(Fold::Caseless);
        // Two ignorables before everything held, then "aＢ" with three
        // ignorables inside it and two after it.
        let text = format!("{zw}{zw}a{zw}Ｂ{zw}{zw}c{zw}{zw}");
        w.append(&text);
        assert_eq!(w.ignorable(), 21);
        assert_eq!(w.folded(), b"abc");
        let mut out = String::new();
        // Within budget once they are gone: only the leading ones go.
        w.shed_ignorable(&mut out, 15);
        assert_eq!(out, format!("{zw}{zw}"));
        assert_eq!(w.orig(), &text[6..]);
        assert_eq!(w.ignorable(), 15);
        // Over budget: the first two inside are kept, the rest dropped.
        out.clear();
        w.shed_ignorable(&mut out, 6);
        assert_eq!(out, "");
        assert_eq!(w.orig(), format!("a{zw}Ｂ{zw}c"));
        assert_eq!(w.ignorable(), 6);
        assert_eq!(w.folded(), b"abc");
        assert_eq!(w.orig_end(), 17);
        // Folded offsets map to the kept text: "Ｂ" is 10..13 (a match
        // starting there takes the ignorable before it), "c" is 16..17.
        assert_eq!(w.down(1), 7);
        assert_eq!(w.up(2), 16);
        assert_eq!(w.down(2), 13);
        assert_eq!(w.up(3), 17);
        // Appending goes on from the new end.
        w.append("Ｄ");
        assert_eq!(w.down(3), 17);
        assert_eq!(w.up(4), 20);
        w.consume(20, 4);
        assert_eq!(w.orig(), "");
        assert_eq!(w.ignorable(), 0);
    }
}
