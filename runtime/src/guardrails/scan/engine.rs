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

mod stream;
pub(crate) use stream::{FieldStream, Tail};

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::bidi;
use super::fold::{Fold, JsonLex, Run, Window};
use crate::limits::IGNORABLE_HOLD_CAP;

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

/// What a guardrail found over a call or a stream: counts per entity
/// (entity types such as `EMAIL_ADDRESS`, `KEYWORD` or `host_not_allowed`).
/// Never holds a matched value or a configured term.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    pub(crate) counts: BTreeMap<String, u64>,
    pub(crate) total: u64,
}

impl Tally {
    fn add(&mut self, entity: &str) {
        self.total += 1;
        match self.counts.get_mut(entity) {
            Some(n) => *n += 1,
            None => {
                self.counts.insert(entity.to_owned(), 1);
            }
        }
    }

    /// Names of what was found, for a tripwire's reason.
    pub(crate) fn names(&self) -> String {
        let names: Vec<&str> = self.counts.keys().map(String::as_str).collect();
        names.join(", ")
    }

    /// Structured details: `{"action", "findings": {entity: count}, "total"}`.
    pub(crate) fn info(&self, treat: Treatment) -> Value {
        json!({
            "action": treat.as_str(),
            "findings": self.counts,
            "total": self.total,
        })
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
