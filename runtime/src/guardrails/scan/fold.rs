//! Folding text for matching, and mapping matches back to the original.
//!
//! Guardrails match on a *folded* copy of the text so that look-alike
//! spellings of a term still match, and emit the *original* text for
//! everything that did not match. The fold works one character at a time
//! (which is what lets it run on a stream without holding text back for it):
//!
//! - ASCII is kept as is, in both modes. Case-insensitive matchers fold
//!   ASCII case themselves (Aho-Corasick's ASCII case folding), so ASCII
//!   text, the common case, is scanned without being copied through the
//!   fold. ASCII is never read as other ASCII: `rn` is not `m`, `0` is not
//!   `O`, `1` is not `l`.
//! - Hyphens and dashes (U+2010 to U+2015, the minus sign U+2212, their
//!   small forms) read as `-`, in every mode.
//! - Default-ignorable code points (zero-width space, joiners, BOM, soft
//!   hyphen, variation selectors, bidi controls and marks, tags) fold to
//!   nothing, so `ac\u{200B}me` reads as `acme`.
//! - [`Fold::Exact`] (PII, secrets, URLs): any other character is replaced
//!   by its Unicode compatibility decomposition (NFKD, per character), so
//!   fullwidth `ｓｋ－` reads as `sk-`, the ligature `ﬁ` as `fi`, a
//!   precomposed `é` and `e` + U+0301 read the same, and superscripts,
//!   circled and mathematical letters read as their plain letters.
//! - [`Fold::Visual`] (keywords), what a reader sees, case aside: a
//!   character that looks like ASCII (UTS #39 confusables: Cyrillic `а`,
//!   Greek `Α`, Cherokee `Ꮯ`, `ɑ`, `ǀ`...) folds to the ASCII it looks like,
//!   lowercased (see `look_alike` for the rules); any other character is
//!   decomposed (NFKD), and of the pieces the ones that look like ASCII fold
//!   to it, the generic combining marks (Combining Diacritical Marks blocks
//!   and the Cyrillic marks: see [`is_folded_mark`]) fold to nothing, and
//!   the rest are lowercased. So `Асme`, `ΑСΜΕ`, `𝐚𝐜𝐦𝐞`, `ácmé` and
//!   `a\u{301}c\u{302}me` all read `acme`; `が` keeps its voicing mark,
//!   Devanagari, Hebrew and Arabic marks stay, and letters with no Latin
//!   look-alike (`ж`, `日`) are only lowercased. The window also follows
//!   explicit bidi overrides and records where text is displayed reversed
//!   (see below).
//!
//! Per-character NFKD equals NFKD of the whole text except for the canonical
//! reordering of stacked combining marks, which no guardrail pattern relies
//! on. The tables come from `unicode-normalization` and `unicode-security`;
//! the ignorable ranges below are Unicode's `Default_Ignorable_Code_Point`
//! property. Each fold is computed once per block of 256 code points, the
//! first time the block is met (planes 0 and 1; above them it is computed
//! each time), so text in any script costs a table lookup per character.
//!
//! In [`Fold::Visual`] mode the window keeps the explicit bidi state (see
//! `bidi`) and the stretches of folded text inside an RTL override, which
//! a reader sees right to left ([`Window::runs`]): the keyword detector
//! reads them backwards too. Inside such a stretch the fold of a single
//! character that is several characters long (`æ` as `ae`) is stored
//! reversed, so that reading the stretch backwards reads it forwards. The
//! state is bounded (nesting past 125 levels is ignored, as the bidi
//! algorithm does).

//! [`Window`] keeps the original text a guardrail still holds, its folded
//! bytes, and for each non-ASCII character where its fold starts and ends, so
//! a match found in folded bytes maps back to whole original characters.
//!
//! Characters that fold to nothing take no room in the folded text, so a
//! detector's cap (in folded bytes) does not bound them. The window counts
//! the original bytes of those it holds, and [`Window::shed_ignorable`]
//! bounds them: the ones that sit before everything held are released, and
//! past a budget the others are dropped, bidi controls that cancel out in
//! pairs first (an override closed with nothing shown inside it). Neither
//! changes the folded text, so neither changes what a detector finds.

mod json;

mod window;

use std::collections::VecDeque;
use std::sync::{LazyLock, OnceLock};

use unicode_normalization::char::decompose_compatible;

use super::bidi::{self, Overrides};
use super::look_alike::{ascii_reading, is_folded_mark};

pub(crate) use json::JsonLex;

/// How text is folded before matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fold {
    /// Compatibility decomposition and ignorables removed; case kept.
    Exact = 0,
    /// What a reader sees, case aside (keywords): as [`Fold::Exact`], then
    /// the generic combining marks dropped, look-alikes of ASCII read as
    /// that ASCII and other non-ASCII letters lowercased (the matcher folds
    /// ASCII case itself); explicit RTL overrides tracked (see [`Window`]).
    Visual = 1,
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

/// Folds are computed once per block of 256 code points, the first time a
/// character of the block is folded, for the first two planes (every
/// script in use; the planes above hold rare ideographs and tags). A block
/// is 1 KB of offsets and its folded bytes.
const BLOCKS: usize = 0x20000 >> 8;

/// The folds of one block: for each character, where its fold starts in
/// `bytes` (high 24 bits) and its length (low 8 bits).
struct Block {
    index: [u32; 256],
    bytes: Box<[u8]>,
}

impl Block {
    fn new(first: u32, mode: Fold) -> Self {
        let mut index = [0; 256];
        let mut bytes = Vec::new();
        for (k, slot) in index.iter_mut().enumerate() {
            let start = bytes.len();
            if let Some(c) = char::from_u32(first + k as u32) {
                fold_uncached(c, mode, &mut bytes);
            }
            // A character's fold is at most a few dozen bytes (U+FDFA's is
            // the longest: 33), and a block's 256 folds well under 16 MB; a
            // longer one would be folded each time it is met.
            *slot = match u8::try_from(bytes.len() - start) {
                Ok(len) => ((start as u32) << 8) | u32::from(len),
                Err(_) => u32::MAX,
            };
        }
        Self {
            index,
            bytes: bytes.into_boxed_slice(),
        }
    }

    /// The fold of the character at `k` in the block, if stored.
    fn get(&self, k: usize) -> Option<&[u8]> {
        let e = self.index[k & 0xFF];
        let e = (e != u32::MAX).then_some(e as usize)?;
        self.bytes.get(e >> 8..(e >> 8) + (e & 0xFF))
    }
}

/// The block caches, by mode.
static CACHE: [[OnceLock<Block>; BLOCKS]; 2] = [const { [const { OnceLock::new() }; BLOCKS] }; 2];

/// Appends the fold of the non-ASCII character `c` to `out`.
fn fold_char(c: char, mode: Fold, out: &mut Vec<u8>) {
    let i = c as usize;
    let cached = CACHE[mode as usize].get(i >> 8).and_then(|cell| {
        cell.get_or_init(|| Block::new((i & !0xFF) as u32, mode))
            .get(i)
    });
    match cached {
        Some(fold) => out.extend_from_slice(fold),
        None => fold_uncached(c, mode, out),
    }
}

/// Appends the fold of `c` to `out`, computed.
fn fold_uncached(c: char, mode: Fold, out: &mut Vec<u8>) {
    if is_ignorable(c) {
        return;
    }
    // Hyphens and dashes read as `-` (a number written with U+2010 or a
    // minus sign between its groups is still that number); compatibility
    // decomposition keeps them apart.
    if matches!(
        c,
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}'
    ) {
        out.push(b'-');
        return;
    }
    // A look-alike is read as it looks before it is decomposed: U+03F9
    // (`Ϲ`, a compatibility form of `Σ`) looks like `C`.
    if mode == Fold::Visual
        && let Some(r) = ascii_reading(c)
    {
        out.extend_from_slice(r.as_bytes());
        return;
    }
    let mut buf = [0u8; 4];
    decompose_compatible(c, |d| {
        if is_ignorable(d) {
            return;
        }
        match mode {
            Fold::Exact => out.extend_from_slice(d.encode_utf8(&mut buf).as_bytes()),
            Fold::Visual if is_folded_mark(d) => {}
            Fold::Visual => match ascii_reading(d) {
                Some(r) => out.extend_from_slice(r.as_bytes()),
                None => {
                    for l in d.to_lowercase() {
                        out.extend_from_slice(l.encode_utf8(&mut buf).as_bytes());
                    }
                }
            },
        }
    });
}

/// The whole fold of `s`, ASCII included (ASCII lowercased in
/// [`Fold::Visual`] mode): how configured terms are normalised.
pub(crate) fn fold_str(s: &str, mode: Fold) -> String {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(match mode {
                Fold::Exact => c as u8,
                Fold::Visual => c.to_ascii_lowercase() as u8,
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
    /// Explicit bidi state ([`Fold::Visual`] only).
    bidi: Overrides,
    /// The stretches of folded text displayed reversed (in an RTL
    /// override), oldest first; the last may still be open.
    runs: Vec<Run>,
}

/// A stretch of folded text displayed right to left: absolute folded
/// offsets, `end` unset while the override is still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) start: usize,
    pub(crate) end: Option<usize>,
}

#[cfg(test)]
mod tests;
