//! How a [`Window`] keeps original and folded text in step: appending,
//! folding, mapping offsets and releasing what was emitted.

use super::*;

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
    pub(super) fn fold_at(&mut self, c: char, os: usize, len: usize) {
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
    pub(super) fn plain_ascii(&self, bytes: &[u8]) -> usize {
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
    pub(super) fn push_ascii(&mut self, c: u8) {
        if self.mode == Fold::Visual {
            self.set_bidi(char::from(c));
        }
        self.folded.push(c);
    }

    /// Applies a bidi control or paragraph end, opening or closing a
    /// reversed run where the display direction changes.
    pub(super) fn set_bidi(&mut self, c: char) {
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
    pub(super) fn reverse_fold(&mut self, from: usize) {
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
    pub(super) fn identity(&self, before: Option<&Mark>, f: usize) -> usize {
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
    pub(super) fn cancelled_pairs(&self) -> Vec<bool> {
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
