//! The scanning engine every text guardrail shares.
//!
//! A [`Detector`] finds spans in folded text, incrementally: it keeps its
//! automaton state in a cursor between calls, looks at each new folded byte
//! once (plus a bounded look back when a match is confirmed), and reports a
//! *frontier*: the folded offset before which no future match can start.
//! [`FieldStream`] owns one text stream (one field of one choice), feeds it
//! to the detector, and emits everything before the frontier at once, with
//! confirmed matches replaced; only the text after the frontier waits for
//! the next chunk. A whole text (a request message, a complete reply) is the
//! same stream in one piece, so streamed and whole-text results are the same
//! by construction, and the property tests check it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::bidi;
use super::fold::{Fold, JsonLex, Run, Window};

/// Folded bytes a detector scans: the window's folded text, addressed by
/// absolute offsets.
pub(crate) struct Hay<'a> {
    bytes: &'a [u8],
    base: usize,
    runs: &'a [Run],
}

impl<'a> Hay<'a> {
    /// The folded text of `win`.
    pub(crate) fn of(win: &'a Window) -> Self {
        Self {
            bytes: win.folded(),
            base: win.fold_base(),
            runs: win.runs(),
        }
    }

    /// The held bytes between two absolute offsets (clamped to what is
    /// held), as a text of their own: nothing before `start` is visible.
    pub(crate) fn sub(&self, start: usize, end: usize) -> Hay<'a> {
        let bytes = self.slice(start, end);
        Hay {
            bytes,
            base: start.max(self.base).min(self.end()),
            runs: &[],
        }
    }

    /// The stretches displayed reversed (explicit RTL overrides) that end
    /// after the first byte held, oldest first; the last may be open.
    pub(crate) fn runs(&self) -> &'a [Run] {
        self.runs
    }

    /// Absolute offset of the first byte held.
    pub(crate) fn base(&self) -> usize {
        self.base
    }

    /// Absolute offset just past the last byte.
    pub(crate) fn end(&self) -> usize {
        self.base + self.bytes.len()
    }

    /// The held bytes; index `i` is absolute offset `base() + i`.
    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The byte at absolute offset `at` (which must be held).
    pub(crate) fn byte(&self, at: usize) -> u8 {
        self.bytes[at - self.base]
    }

    /// The byte before absolute offset `at`, if it is held.
    pub(crate) fn byte_before(&self, at: usize) -> Option<u8> {
        at.checked_sub(1)
            .filter(|&p| p >= self.base)
            .map(|p| self.bytes[p - self.base])
    }

    /// Bytes between two absolute offsets, clamped to what is held.
    pub(crate) fn slice(&self, start: usize, end: usize) -> &'a [u8] {
        let s = start.saturating_sub(self.base).min(self.bytes.len());
        let e = end.saturating_sub(self.base).clamp(s, self.bytes.len());
        &self.bytes[s..e]
    }
}

/// A confirmed match, in absolute folded offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// Detector-specific kind (entity, keyword index, ...).
    pub(crate) kind: u32,
    /// A safe detail for results (a URL's host), never a secret or PII.
    pub(crate) note: Option<String>,
}

/// Finds spans in folded text, incrementally.
pub(crate) trait Detector: Send + Sync + 'static {
    /// Per-stream automaton state.
    type Cursor: Send;

    /// How text is folded for this detector.
    fn fold(&self) -> Fold;

    /// A cursor at the start of a stream.
    fn cursor(&self) -> Self::Cursor;

    /// Scans the bytes of `hay` the cursor has not seen yet, pushing the
    /// matches it can confirm to `out`, and returns the frontier: no match
    /// confirmed later starts before it. With `eoi`, no more text follows:
    /// every pending match is settled.
    fn scan(
        &self,
        cur: &mut Self::Cursor,
        hay: &Hay<'_>,
        eoi: bool,
        out: &mut Vec<Finding>,
    ) -> usize;

    /// What a finding of `kind` is called in results (`EMAIL_ADDRESS`, the
    /// keyword, ...).
    fn entity(&self, kind: u32) -> &str;

    /// The label in the placeholder that replaces a finding of `kind`.
    fn label(&self, kind: u32) -> &str;
}

/// What happens to a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Treatment {
    /// Stop the call with a tripwire.
    Block,
    /// Replace with `<LABEL>`.
    Mask,
    /// Remove.
    Redact,
    /// Replace with `<LABEL:hash>`.
    Hash,
}

impl Treatment {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Mask => "mask",
            Self::Redact => "redact",
            Self::Hash => "hash",
        }
    }
}

/// A detector with what to do about its findings.
pub(crate) struct Scanner<D> {
    pub(crate) det: Arc<D>,
    pub(crate) treat: Treatment,
    /// Prefix hashed in front of each value in [`Treatment::Hash`].
    pub(crate) salt: Arc<str>,
    /// Whether strings in fields the reply types do not name are scanned
    /// (see `channels`).
    pub(crate) scan_unknown: bool,
}

impl<D> Clone for Scanner<D> {
    fn clone(&self) -> Self {
        Self {
            det: Arc::clone(&self.det),
            treat: self.treat,
            salt: Arc::clone(&self.salt),
            scan_unknown: self.scan_unknown,
        }
    }
}

impl<D> std::fmt::Debug for Scanner<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("treat", &self.treat)
            .finish_non_exhaustive()
    }
}

impl<D: Detector> Scanner<D> {
    pub(crate) fn new(det: Arc<D>, treat: Treatment) -> Self {
        Self {
            det,
            treat,
            salt: Arc::from(""),
            scan_unknown: true,
        }
    }

    /// Scans a whole text: `Ok(None)` when nothing matched, the rewritten
    /// text otherwise, or `Err` when a finding blocks.
    pub(crate) fn apply(&self, text: &str, tally: &mut Tally) -> Result<Option<String>, Blocked> {
        self.apply_as(text, false, tally)
    }

    /// As [`apply`](Self::apply); with `json`, `text` is JSON (see
    /// [`FieldStream::new_json`]).
    pub(crate) fn apply_as(
        &self,
        text: &str,
        json: bool,
        tally: &mut Tally,
    ) -> Result<Option<String>, Blocked> {
        let before = tally.total;
        let mut stream = match json {
            true => FieldStream::new_json(&*self.det),
            false => FieldStream::new(&*self.det),
        };
        let mut out = text.to_owned();
        stream.push(self, &mut out, true, tally)?;
        Ok((tally.total != before).then_some(out))
    }
}

/// A finding blocked the text; what was found is in the [`Tally`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Blocked;

/// What a guardrail found over a call or a stream: counts per entity, and
/// safe notes. Never holds a matched value.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    pub(crate) counts: BTreeMap<String, u64>,
    pub(crate) notes: Vec<String>,
    pub(crate) total: u64,
}

/// At most this many notes are kept (a reply could name thousands of hosts).
const MAX_NOTES: usize = 16;

impl Tally {
    fn add(&mut self, entity: &str, note: Option<&String>) {
        self.total += 1;
        match self.counts.get_mut(entity) {
            Some(n) => *n += 1,
            None => {
                self.counts.insert(entity.to_owned(), 1);
            }
        }
        if let Some(note) = note
            && self.notes.len() < MAX_NOTES
            && !self.notes.contains(note)
        {
            self.notes.push(note.clone());
        }
    }

    /// Names of what was found, for a tripwire's reason.
    pub(crate) fn names(&self) -> String {
        let names: Vec<&str> = self.counts.keys().map(String::as_str).collect();
        names.join(", ")
    }

    /// Structured details: `{"action", "findings": {entity: count}, "notes"}`.
    pub(crate) fn info(&self, treat: Treatment) -> Value {
        let mut info = json!({
            "action": treat.as_str(),
            "findings": self.counts,
            "total": self.total,
        });
        if !self.notes.is_empty() {
            info["notes"] = json!(self.notes);
        }
        info
    }
}

/// The most original bytes of characters that fold to nothing
/// (default-ignorable code points: zero-width spaces and joiners, BOM, soft
/// hyphens, bidi controls, variation selectors, tags; for
/// [`Keywords`](crate::guardrails::Keywords), the combining accents of Latin, Greek
/// and Cyrillic too) that a chunk hook holds back in one stream (one field
/// of one choice), on top of what its cap allows.
///
/// They fold to nothing, so they take no room in the folded text that caps
/// are counted in. When more are held, those before everything held are
/// released (no match can take them from there), and of those inside the
/// held text (after the start of a candidate) bidi overrides closed with
/// nothing shown inside them are dropped first, then the first
/// `IGNORABLE_HOLD_CAP` bytes are kept and the others dropped from the
/// output. Neither changes the folded text, so what is found, masked or
/// blocked is what would be without them.
pub const IGNORABLE_HOLD_CAP: usize = 256;

/// What a finished stream held at its end (see [`FieldStream::finish`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct Tail {
    text: String,
    /// For JSON text, whether the tail starts inside a string.
    json: Option<bool>,
}

/// One stream of text (one field of one choice) under one detector.
pub(crate) struct FieldStream<C> {
    win: Window,
    cur: C,
    /// Confirmed findings not emitted yet, sorted by start when emitting.
    found: Vec<Finding>,
    /// Folded offset before which the text was already delivered (a stream
    /// resumed after its end, see [`resume`](Self::resume)); 0 otherwise.
    delivered: usize,
    /// Original bytes at the start of what this stream emits next that were
    /// delivered already, and are dropped from its output.
    skip: usize,
    /// For JSON text (tool-call arguments): its lexer, and the end of the
    /// last piece when it stops inside an escape (held, not yet folded).
    json: Option<Box<(JsonLex, String)>>,
}

impl<C> FieldStream<C> {
    pub(crate) fn new<D: Detector<Cursor = C>>(det: &D) -> Self {
        Self {
            win: Window::new(det.fold()),
            cur: det.cursor(),
            found: Vec::new(),
            delivered: 0,
            skip: 0,
            json: None,
        }
    }

    /// A stream of JSON text (see [`JsonLex`]): string escapes are matched
    /// as what they stand for, and a match is only replaced when it lies
    /// inside one string (elsewhere it blocks), so replacing keeps the JSON
    /// valid.
    pub(crate) fn new_json<D: Detector<Cursor = C>>(det: &D) -> Self {
        let mut s = Self::new(det);
        s.json = Some(Box::default());
        s
    }

    /// Ends the stream with `text`, its last piece (replaced with what may
    /// be emitted, everything), and returns what it held just before its
    /// end: the text a match could still start in, were the stream to go
    /// on (see [`resume`](Self::resume)).
    pub(crate) fn finish<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        text: &mut String,
        tally: &mut Tally,
    ) -> Result<Tail, Blocked> {
        self.push(sc, text, false, tally)?;
        let mut tail = Tail {
            text: self.win.orig().to_owned(),
            json: None,
        };
        if let Some(json) = &self.json {
            tail.text.push_str(&json.1);
            tail.json = Some(json.0.in_string_at(self.win.orig_base()));
        }
        let mut rest = String::new();
        self.push(sc, &mut rest, true, tally)?;
        text.push_str(&rest);
        Ok(tail)
    }

    /// A stream that goes on after [`finish`](Self::finish) (text after a
    /// choice's finish reason): the tail, the text the finished stream held
    /// at its end and has delivered since, is scanned again as this
    /// stream's start but never emitted again. A match that begins in it
    /// and ends in later text can no longer be masked, so it blocks
    /// whatever the treatment; matches inside it were dealt with when it
    /// was delivered.
    pub(crate) fn resume<D: Detector<Cursor = C>>(sc: &Scanner<D>, tail: &Tail) -> Self {
        let mut s = Self::new(&*sc.det);
        if let Some(in_string) = tail.json {
            s.json = Some(Box::new((JsonLex::starting(in_string), String::new())));
        }
        let mut text = tail.text.clone();
        // Matches inside the tail were counted when it was delivered.
        let _ = s.push(sc, &mut text, false, &mut Tally::default());
        s.delivered = s.win.fold_end();
        s.skip = s.held();
        let delivered = s.delivered;
        s.found.retain(|f| f.end > delivered);
        s
    }

    /// Whether text is held back.
    pub(crate) fn holds_text(&self) -> bool {
        !self.win.is_empty() || self.json.as_ref().is_some_and(|j| !j.1.is_empty())
    }

    /// Takes `text` (the next piece of the stream) and replaces it with what
    /// may be emitted now; with `eoi`, flushes everything.
    pub(crate) fn push<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        text: &mut String,
        eoi: bool,
        tally: &mut Tally,
    ) -> Result<(), Blocked> {
        let known = self.found.len();
        // With no finding pending (the usual case), fold the text first and
        // copy it into the window only if something in it matches: clean
        // text is cut where the frontier falls, in place.
        let fast = known == 0;
        if let Some(json) = &mut self.json {
            let (lex, rest) = &mut **json;
            if !rest.is_empty() {
                text.insert_str(0, rest);
                rest.clear();
            }
            let n = self.win.append_folded_json(text, lex, eoi);
            *rest = text.split_off(n);
            if !fast {
                self.win.push_orig(text);
            }
        } else if fast {
            self.win.append_folded(text);
        } else {
            self.win.append(text);
        }
        let hay = Hay::of(&self.win);
        let mut frontier = sc.det.scan(&mut self.cur, &hay, eoi, &mut self.found);
        if eoi {
            frontier = self.win.fold_end();
        }
        if self.found.len() > known {
            let mut straddles = false;
            if self.delivered > 0 {
                let delivered = self.delivered;
                let mut i = known;
                while i < self.found.len() {
                    if self.found[i].end <= delivered {
                        self.found.swap_remove(i);
                        continue;
                    }
                    straddles |= self.found[i].start < delivered;
                    i += 1;
                }
            }
            if let Some(json) = &self.json {
                // Only a match inside one string can be replaced and leave
                // the JSON valid.
                straddles |= self.found[known..].iter().any(|f| {
                    !json
                        .0
                        .inside_one_string(self.win.down(f.start), self.win.up(f.end))
                });
            }
            for f in &self.found[known..] {
                tally.add(sc.det.entity(f.kind), f.note.as_ref());
            }
            if self.found.len() > known && (sc.treat == Treatment::Block || straddles) {
                return Err(Blocked);
            }
        }
        if fast {
            if self.found.is_empty() {
                // At the end, the characters that fold to nothing after the
                // last folded byte go too.
                let cut = if eoi {
                    usize::MAX
                } else {
                    self.win.down(frontier)
                };
                if self.win.settle(text, cut, frontier.saturating_sub(4)) {
                    self.bound_ignorable(text);
                    self.drop_delivered(text);
                    return Ok(());
                }
            }
            self.win.push_orig(text);
        }
        text.clear();
        self.emit(sc, frontier, eoi, text);
        self.bound_ignorable(text);
        self.drop_delivered(text);
        Ok(())
    }

    /// Drops from the start of `out` what a resumed stream delivered
    /// before, and the JSON lexer's quotes before what is held.
    fn drop_delivered(&mut self, out: &mut String) {
        if let Some(json) = &mut self.json {
            json.0.forget_before(self.win.orig_base());
        }
        if self.skip > 0 {
            let mut n = self.skip.min(out.len());
            while !out.is_char_boundary(n) {
                n -= 1;
            }
            out.drain(..n);
            self.skip -= n;
        }
    }

    /// Bytes of original text held back.
    pub(crate) fn held(&self) -> usize {
        self.win.orig().len() + self.json.as_ref().map_or(0, |j| j.1.len())
    }

    /// Keeps the held characters that fold to nothing within
    /// [`IGNORABLE_HOLD_CAP`] bytes (see [`Window::shed_ignorable`]): a
    /// detector's frontier is in folded bytes, where they take no room.
    /// Text without them (ASCII above all) costs one comparison per chunk.
    fn bound_ignorable(&mut self, out: &mut String) {
        if self.win.ignorable() > IGNORABLE_HOLD_CAP {
            self.win.shed_ignorable(out, IGNORABLE_HOLD_CAP);
        }
    }

    /// Appends to `out` the held text before `frontier`, findings replaced,
    /// and forgets it. A group of overlapping findings is replaced as one and
    /// only once none of it can still grow: a group reaching past the
    /// frontier stays held from its start. With `eoi`, everything goes.
    fn emit<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        frontier: usize,
        eoi: bool,
        out: &mut String,
    ) {
        let mut cut = frontier;
        let mut pos = self.win.orig_base();
        let mut done = 0;
        if !self.found.is_empty() {
            if self.found.len() > 1 {
                self.found.sort_by_key(|f| (f.start, f.end));
            }
            let hay = Hay::of(&self.win);
            let mut i = 0;
            while i < self.found.len() {
                let (start, kind) = (self.found[i].start, self.found[i].kind);
                let mut end = self.found[i].end;
                let mut j = i + 1;
                while j < self.found.len() && self.found[j].start < end {
                    end = end.max(self.found[j].end);
                    j += 1;
                }
                // A group ending where the folded text ends waits for what
                // follows: characters that fold to nothing there are part of
                // its mask in the whole text.
                if end > frontier || (!eoi && end >= self.win.fold_end()) {
                    cut = cut.min(start);
                    break;
                }
                let s = self.win.down(start).max(pos);
                out.push_str(self.slice(pos, s));
                replace(sc, kind, hay.slice(start, end), out);
                pos = self.win.up(end).max(s);
                // The explicit bidi controls under the mask stay, after it:
                // an override opened before the match and closed inside it
                // (or the reverse) must not be left open in what is shown.
                let under = self.slice(s, pos);
                if !under.is_ascii() {
                    out.extend(under.chars().filter(|&c| bidi::is_explicit(c)));
                }
                i = j;
                done = j;
            }
        }
        self.found.drain(..done);
        let stop = match eoi {
            // Nothing is pending at the end: what follows the last folded
            // byte (characters that fold to nothing) goes too.
            true => self.win.orig_end(),
            false => self.win.down(cut).max(pos),
        };
        out.push_str(self.slice(pos, stop));
        self.win.consume(stop, cut.saturating_sub(4));
    }

    /// Held original text between two absolute offsets.
    fn slice(&self, from: usize, to: usize) -> &str {
        let base = self.win.orig_base();
        let orig = self.win.orig();
        let s = from.saturating_sub(base).min(orig.len());
        let e = to.saturating_sub(base).clamp(s, orig.len());
        orig.get(s..e).unwrap_or_default()
    }
}

/// Writes the replacement for a finding whose folded text is `value`.
fn replace<D: Detector>(sc: &Scanner<D>, kind: u32, value: &[u8], out: &mut String) {
    match sc.treat {
        Treatment::Redact => {}
        Treatment::Mask | Treatment::Block => {
            out.push('<');
            out.push_str(sc.det.label(kind));
            out.push('>');
        }
        Treatment::Hash => {
            out.push('<');
            out.push_str(sc.det.label(kind));
            out.push(':');
            out.push_str(&short_hash(&sc.salt, value));
            out.push('>');
        }
    }
}

/// The first 8 hex digits of SHA-256(`salt` ‖ `value`): stable across runs
/// and processes, so the same value always gets the same tag. 32 bits tell
/// values apart in one conversation; they do not hide a value drawn from a
/// small space (an SSN), so set a secret salt when that matters.
pub(crate) fn short_hash(salt: &str, value: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(salt.as_bytes())
        .chain_update(value)
        .finalize();
    let mut hex = String::with_capacity(8);
    for b in &digest[..4] {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_hash_is_stable_and_salted() {
        assert_eq!(short_hash("", b"abc"), "ba7816bf");
        assert_ne!(short_hash("pepper", b"abc"), "ba7816bf");
        assert_eq!(short_hash("pepper", b"abc"), short_hash("pepper", b"abc"));
    }
}
