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
            bidi: Overrides::default(),
            runs: Vec::new(),
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
        let track = self.mode == Fold::Visual;
        if text.is_ascii() && !(track && self.bidi.is_open()) {
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
            // A line break inside an override ends it.
            let run = self.plain_ascii(&bytes[i..]);
            self.folded.extend_from_slice(&bytes[i..i + run]);
            i += run;
            let Some(c) = text.get(i..).and_then(|t| t.chars().next()) else {
                break;
            };
            if c.is_ascii() {
                self.push_ascii(c as u8);
                i += 1;
                continue;
            }
            let len = c.len_utf8();
            self.fold_at(c, base + i, len);
            i += len;
        }
    }

    /// Folds the non-ASCII character `c`, which stands for the `len`
    /// original bytes at absolute offset `os` (its UTF-8, or an escape
    /// that spells it), with the mark that maps one to the other.
    fn fold_at(&mut self, c: char, os: usize, len: usize) {
        let track = self.mode == Fold::Visual;
        if track && bidi::is_control(c) {
            self.set_bidi(c);
        }
        let fs = self.fold_base + self.folded.len();
        fold_char(c, self.mode, &mut self.folded);
        let fe = self.fold_base + self.folded.len();
        if fe == fs {
            self.ignorable += len;
        } else if fe - fs > 1 && track && self.bidi.reversed() {
            self.reverse_fold(fs - self.fold_base);
        }
        self.marks.push_back(Mark {
            fs,
            fe,
            os,
            oe: os + len,
        });
    }

    /// The length of the ASCII run at the start of `bytes` that can be
    /// copied as it is: up to a line break while an override is open (it
    /// ends the override).
    fn plain_ascii(&self, bytes: &[u8]) -> usize {
        let run = ascii_prefix(bytes);
        if self.mode == Fold::Visual && self.bidi.is_open() {
            let line = bytes[..run]
                .iter()
                .position(|&b| bidi::is_paragraph_end(char::from(b)));
            return line.unwrap_or(run);
        }
        run
    }

    /// Appends the ASCII character `c`, applying it to the bidi state
    /// (a line break ends an override).
    fn push_ascii(&mut self, c: u8) {
        if self.mode == Fold::Visual {
            self.set_bidi(char::from(c));
        }
        self.folded.push(c);
    }

    /// Applies a bidi control or paragraph end, opening or closing a
    /// reversed run where the display direction changes.
    fn set_bidi(&mut self, c: char) {
        let was = self.bidi.reversed();
        self.bidi.apply(c);
        let now = self.bidi.reversed();
        if was == now {
            return;
        }
        let at = self.fold_end();
        if let Some(r) = self.runs.last_mut().filter(|r| r.end.is_none()) {
            match r.start == at {
                true => {
                    self.runs.pop();
                }
                false => r.end = Some(at),
            }
        }
        if now {
            self.runs.push(Run {
                start: at,
                end: None,
            });
        }
    }

    /// Reverses, character by character, the fold of one character that
    /// starts at `from` in `folded`: in a reversed run the folded text is
    /// read backwards, and a fold of several characters (`æ` as `ae`, a
    /// ligature) must then read forwards.
    fn reverse_fold(&mut self, from: usize) {
        if let Ok(s) = std::str::from_utf8(&self.folded[from..]) {
            let rev: String = s.chars().rev().collect();
            self.folded.truncate(from);
            self.folded.extend_from_slice(rev.as_bytes());
        }
    }

    /// The stretches of folded text displayed reversed, oldest first (the
    /// last may be open), that end after the first folded byte held.
    pub(crate) fn runs(&self) -> &[Run] {
        &self.runs
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
        if !self.runs.is_empty() {
            let base = self.fold_base;
            self.runs.retain(|r| r.end.is_none_or(|e| e > base));
        }
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
        let cancelled = self.cancelled_pairs();
        let base = self.orig_base;
        let orig = &self.orig;
        let mut kept = String::with_capacity(orig.len());
        let (mut left, mut from, mut dropped) = (budget, base, 0);
        let mut k = 0;
        self.marks.retain_mut(|m| {
            let len = m.oe - m.os;
            k += 1;
            if m.fs == m.fe {
                if cancelled.get(k - 1).is_some_and(|&c| c) || len > left {
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

    /// Which held marks are bidi controls that cancel out: an embedding or
    /// override closed by PDF, or an isolate closed by PDI (with what it
    /// opened inside), with nothing but other characters that fold to
    /// nothing between them. Dropping such a pair changes neither the
    /// folded text nor how anything is displayed, so they go first when
    /// too many characters that fold to nothing are held.
    fn cancelled_pairs(&self) -> Vec<bool> {
        let mut out = vec![false; self.marks.len()];
        if self.mode != Fold::Visual {
            return out;
        }
        // Openers since the last folded character: mark index, isolate.
        let mut open: Vec<(usize, bool)> = Vec::new();
        let mut last = usize::MAX;
        for (k, m) in self.marks.iter().enumerate() {
            if m.fs != m.fe || m.os != last {
                open.clear();
            }
            last = m.oe;
            let c = self.orig[m.os - self.orig_base..].chars().next();
            match c {
                _ if m.fs != m.fe => {}
                Some('\u{202A}' | '\u{202B}' | '\u{202D}' | '\u{202E}') => open.push((k, false)),
                Some('\u{2066}'..='\u{2068}') => open.push((k, true)),
                Some('\u{202C}') => {
                    if let Some(&(j, false)) = open.last() {
                        open.pop();
                        out[j] = true;
                        out[k] = true;
                    }
                }
                Some('\u{2069}') => {
                    if let Some(i) = open.iter().rposition(|o| o.1) {
                        for (j, _) in open.drain(i..) {
                            out[j] = true;
                        }
                        out[k] = true;
                    }
                }
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_fullwidth_ligatures_and_zero_width() {
        assert_eq!(fold_str("ＡＣＭＥ", Fold::Visual), "acme");
        assert_eq!(fold_str("ＡＣＭＥ", Fold::Exact), "ACME");
        assert_eq!(
            fold_str("ac\u{200B}m\u{200D}e\u{FEFF}", Fold::Exact),
            "acme"
        );
        assert_eq!(fold_str("ﬁle", Fold::Exact), "file");
        assert_eq!(fold_str("É", Fold::Visual), "e");
        assert_eq!(fold_str("É", Fold::Exact), "E\u{301}");
        assert_eq!(
            fold_str("é", Fold::Visual),
            fold_str("e\u{301}", Fold::Visual)
        );
    }

    #[test]
    fn visual_fold_reads_look_alikes_and_drops_marks() {
        for (text, folded) in [
            ("Асme", "acme"),
            ("ΑСΜΕ", "acme"),
            ("асме", "acme"),
            ("𝐚𝐜𝐦𝐞", "acme"),
            ("ac\u{301}\u{302}\u{20DD}me", "acme"),
            ("Глобекс", "rлo6ekc"),
            ("日本語", "日本語"),
            ("が", "か\u{3099}"),
        ] {
            assert_eq!(fold_str(text, Fold::Visual), folded, "{text:?}");
        }
        // Exact mode is not touched: look-alikes and marks stay.
        assert_eq!(fold_str("Ас\u{301}", Fold::Exact), "Ас\u{301}");
    }

    /// Every character of the first two planes folds through its block as
    /// computed, in both modes.
    #[test]
    fn block_cache_matches_the_computed_fold() {
        for mode in [Fold::Exact, Fold::Visual] {
            for c in (0x80..0x20000).step_by(7).filter_map(char::from_u32) {
                let (mut cached, mut computed) = (Vec::new(), Vec::new());
                fold_char(c, mode, &mut cached);
                fold_uncached(c, mode, &mut computed);
                assert_eq!(cached, computed, "{c:?}");
            }
        }
    }

    /// Reversed runs, in folded offsets, whatever the chunking: opened by
    /// RLO, closed by PDF or a line break, split by a nested override, and
    /// folds of several characters reversed inside them.
    #[test]
    fn tracks_reversed_runs() {
        let text = "ab\u{202E}cd\u{202D}e\u{202C}æ\u{202C}f\u{202E}g\nh\u{202E}i";
        for chunk in [1, 2, 3, 100] {
            let mut w = Window::new(Fold::Visual);
            let chars: Vec<char> = text.chars().collect();
            for piece in chars.chunks(chunk) {
                w.append(&piece.iter().collect::<String>());
            }
            assert_eq!(w.folded(), b"abcdeeafg\nhi", "chunks of {chunk}");
            let runs: Vec<(usize, Option<usize>)> =
                w.runs().iter().map(|r| (r.start, r.end)).collect();
            assert_eq!(runs, [(2, Some(4)), (5, Some(7)), (8, Some(9)), (11, None)]);
        }
        // Exact mode tracks nothing.
        let mut w = Window::new(Fold::Exact);
        w.append(text);
        assert!(w.runs().is_empty());
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
                        let mut w = Window::new(Fold::Visual);
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
                            fold_str(&text, Fold::Visual).as_bytes(),
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
                            let len = fold_str(c.encode_utf8(&mut [0; 4]), Fold::Visual).len();
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
        let mut w = Window::new(Fold::Visual);
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
        let mut w = Window::new(Fold::Visual);
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
