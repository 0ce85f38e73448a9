//! Detectors that judge whole tokens: runs of bytes from a class.
//!
//! Secrets and URLs are not regular languages worth a DFA (entropy is not
//! regular; a URL is judged by parsing it), but both are tokens: a maximal
//! run of bytes from a small class. The scan walks bytes once with a 256-entry
//! table, holds back only the run in progress, and judges each run when it
//! ends. A run longer than the rule's cap is judged in cap-sized pieces, so a
//! chunk hook never holds more than the cap; where the pieces fall depends on
//! the text alone, so streamed and whole-text results stay equal.

use super::engine::{Detector, Finding, Hay};
use super::fold::Fold;

/// What a run detector looks for.
pub(crate) trait RunRule: Send + Sync + 'static {
    /// Which bytes (of folded text) make up a run.
    fn table(&self) -> &[bool; 256];
    /// The longest run judged in one piece.
    fn cap(&self) -> usize;
    /// Judges the complete run `run`, which starts at absolute offset
    /// `start`.
    fn judge(&self, run: &[u8], start: usize, out: &mut Vec<Finding>);
    /// See [`Detector::entity`].
    fn entity(&self, kind: u32) -> &str;
    /// See [`Detector::label`].
    fn label(&self, kind: u32) -> &str;
}

/// A [`Detector`] built from a [`RunRule`].
#[derive(Debug, Clone)]
pub(crate) struct RunDetector<R>(pub(crate) R);

/// Per-stream state of a [`RunDetector`].
#[derive(Debug, Default)]
pub(crate) struct RunCursor {
    /// Next absolute folded offset to read.
    at: usize,
    /// Where the run in progress started.
    start: Option<usize>,
}

/// A byte table from a predicate.
pub(crate) fn table(pred: impl Fn(u8) -> bool) -> [bool; 256] {
    let mut t = [false; 256];
    for (b, slot) in t.iter_mut().enumerate() {
        *slot = pred(b as u8);
    }
    t
}

impl<R: RunRule> Detector for RunDetector<R> {
    type Cursor = RunCursor;

    fn fold(&self) -> Fold {
        Fold::Exact
    }

    fn cursor(&self) -> RunCursor {
        RunCursor::default()
    }

    fn scan(&self, cur: &mut RunCursor, hay: &Hay<'_>, eoi: bool, out: &mut Vec<Finding>) -> usize {
        let rule = &self.0;
        let (table, cap) = (rule.table(), rule.cap());
        let (bytes, base, end) = (hay.bytes(), hay.base(), hay.end());
        let mut start = cur.start;
        let mut at = cur.at;
        // Two tight loops (skip bytes outside runs, then walk a run) instead
        // of one branch per byte: a misprediction per run, not per byte.
        while at < end {
            match start {
                None => {
                    let skip = bytes[at - base..].iter().position(|&b| table[usize::from(b)]);
                    match skip {
                        Some(n) => {
                            at += n;
                            start = Some(at);
                        }
                        None => at = end,
                    }
                }
                Some(s) => {
                    let limit = end.min(s + cap);
                    let len = bytes[at - base..limit - base]
                        .iter()
                        .position(|&b| !table[usize::from(b)]);
                    match len {
                        Some(n) => {
                            at += n;
                            rule.judge(hay.slice(s, at), s, out);
                            start = None;
                        }
                        None if limit - s >= cap => {
                            at = limit;
                            rule.judge(hay.slice(s, at), s, out);
                            start = Some(at);
                        }
                        None => at = limit,
                    }
                }
            }
        }
        if eoi {
            if let Some(s) = start.take() {
                rule.judge(hay.slice(s, end), s, out);
            }
        }
        cur.at = end;
        cur.start = start;
        start.unwrap_or(end)
    }

    fn entity(&self, kind: u32) -> &str {
        self.0.entity(kind)
    }

    fn label(&self, kind: u32) -> &str {
        self.0.label(kind)
    }
}
