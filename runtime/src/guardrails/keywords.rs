//! `Keywords`: block or mask configured terms (and the competitor preset).
//!
//! Terms match case-insensitively, on word boundaries, in folded text (see
//! [`fold`](super::fold)): `ACME`, `Ａｃｍｅ` and `ac\u{200B}me` all match
//! `acme`, `acmecorp` does not. A boundary is required only at an edge of the
//! term that is a word character, so `c++` matches in `I like c++.`.
//! Trailing `.,!?;:` of a configured term are ignored (`"Acme."` is `acme`).
//!
//! Matching uses an Aho-Corasick DFA stepped one byte at a time with its
//! state kept across chunks. The state's depth (the longest suffix of the
//! text that begins some term) is exactly what a chunk hook must hold back:
//! nothing before it can start a match. Depths are computed once, by a
//! breadth-first walk of the DFA when the guardrail is built.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use aho_corasick::automaton::Automaton;
use aho_corasick::dfa::DFA;
use aho_corasick::automaton::StateID;
use aho_corasick::{Anchored, MatchKind, StartKind};

use super::engine::{Detector, Finding, Hay, Scanner, Tally, Treatment};
use super::error::GuardrailError;
use super::fold::{Fold, fold_str, is_word_char};
use super::scan_hooks::{ScanGuard, scan_hooks};
use super::{Guardrail, STAGES_ALL};
use crate::hooks::Stage;

/// What [`Keywords`] does with a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KeywordAction {
    /// Stop the call with a tripwire naming the keyword (the default).
    #[default]
    Block,
    /// Replace each match with `<KEYWORD>` (`<COMPETITOR>` for the
    /// competitor preset) and go on.
    Mask,
}

/// Blocks or masks configured terms in input, output and streamed output.
///
/// ```
/// use openai_hooks::guardrails::{KeywordAction, Keywords};
///
/// let words = Keywords::new(["Project Falcon", "internal-only"])?
///     .action(KeywordAction::Mask);
/// assert_eq!(
///     words.check("Ｐroject\u{200B} falcon ships Friday").text.as_deref(),
///     Some("<KEYWORD> ships Friday"),
/// );
/// # Ok::<(), openai_hooks::guardrails::GuardrailError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Keywords {
    scanner: Scanner<KeywordDetector>,
    competitors: bool,
}

impl Keywords {
    /// Blocks any of `terms` (action [`KeywordAction::Block`]).
    pub fn new<I, S>(terms: I) -> Result<Self, GuardrailError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::build(terms, "KEYWORD", false)
    }

    /// Blocks mentions of competitors: like [`Keywords::new`], but it trips
    /// with a competitor-specific reason, reports under the name
    /// `competitors`, and masks as `<COMPETITOR>`.
    pub fn competitors<I, S>(names: I) -> Result<Self, GuardrailError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::build(names, "COMPETITOR", true)
    }

    fn build<I, S>(terms: I, label: &'static str, competitors: bool) -> Result<Self, GuardrailError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let name = if competitors { "competitors" } else { "keywords" };
        let det = KeywordDetector::new(terms, label, name)?;
        Ok(Self {
            scanner: Scanner::new(Arc::new(det), Treatment::Block),
            competitors,
        })
    }

    /// Sets what a match does.
    pub fn action(mut self, action: KeywordAction) -> Self {
        self.scanner.treat = match action {
            KeywordAction::Block => Treatment::Block,
            KeywordAction::Mask => Treatment::Mask,
        };
        self
    }

    /// Checks one text, as a pre-request or post-response hook would.
    pub fn check(&self, text: &str) -> super::Check {
        super::Check::run(&self.scanner, text)
    }
}

impl Guardrail for Keywords {
    fn name(&self) -> &'static str {
        self.scanner.det.name
    }
    fn stages(&self) -> &'static [Stage] {
        STAGES_ALL
    }
}

impl ScanGuard for Keywords {
    type Det = KeywordDetector;
    fn guard_name(&self) -> &'static str {
        self.scanner.det.name
    }
    fn scanner(&self) -> &Scanner<KeywordDetector> {
        &self.scanner
    }
    fn reason(&self, tally: &Tally) -> String {
        if self.competitors {
            format!("competitor mentioned: {}", tally.names())
        } else {
            format!("blocked keyword matched: {}", tally.names())
        }
    }
}

scan_hooks!(Keywords, KeywordsState, KeywordCursor);

/// Trailing characters ignored in a configured term.
const TRAILING: &[char] = &['.', ',', '!', '?', ';', ':'];

/// The compiled term set.
pub(crate) struct KeywordDetector {
    ac: DFA,
    start: StateID,
    /// Depth of every DFA state: the length of the longest term prefix that
    /// ends the text read so far.
    depth: HashMap<StateID, usize>,
    /// The configured term (trimmed) for each pattern.
    terms: Vec<String>,
    /// Whether each pattern starts / ends with a word character.
    edges: Vec<(bool, bool)>,
    label: &'static str,
    name: &'static str,
}

impl std::fmt::Debug for KeywordDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeywordDetector")
            .field("terms", &self.terms.len())
            .finish_non_exhaustive()
    }
}

impl KeywordDetector {
    fn new<I, S>(terms: I, label: &'static str, name: &'static str) -> Result<Self, GuardrailError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut shown = Vec::new();
        let mut folded = Vec::new();
        let mut edges = Vec::new();
        for term in terms {
            let trimmed = term.as_ref().trim().trim_end_matches(TRAILING).trim();
            let f = fold_str(trimmed, Fold::Caseless);
            let f = f.trim_end_matches(TRAILING).trim();
            let (Some(first), Some(last)) = (f.chars().next(), f.chars().next_back()) else {
                continue;
            };
            edges.push((is_word_char(first), is_word_char(last)));
            folded.push(f.to_owned());
            shown.push(trimmed.to_owned());
        }
        if folded.is_empty() {
            return Err(GuardrailError::NoTerms { guardrail: name });
        }
        let automaton = |e: aho_corasick::BuildError| GuardrailError::Automaton {
            guardrail: name,
            source: Box::new(e),
        };
        let ac = DFA::builder()
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(true)
            .start_kind(StartKind::Unanchored)
            .prefilter(false)
            .build(&folded)
            .map_err(automaton)?;
        let start = ac
            .start_state(Anchored::No)
            .map_err(|e| GuardrailError::Automaton {
                guardrail: name,
                source: Box::new(e),
            })?;
        // Breadth-first from the start: the first time a state is reached,
        // the path read is its trie string, so the distance is its depth.
        let mut depth = HashMap::from([(start, 0)]);
        let mut queue = VecDeque::from([start]);
        while let Some(sid) = queue.pop_front() {
            let d = depth[&sid];
            for b in 0..=255u8 {
                let next = ac.next_state(Anchored::No, sid, b);
                depth.entry(next).or_insert_with(|| {
                    queue.push_back(next);
                    d + 1
                });
            }
        }
        Ok(Self {
            ac,
            start,
            depth,
            terms: shown,
            edges,
            label,
            name,
        })
    }

    /// Whether a match of pattern `pid` over `[s, e)` has word boundaries
    /// where it needs them; `None` when the character after it has not
    /// arrived yet.
    fn bounded(&self, hay: &Hay<'_>, pid: usize, s: usize, e: usize, eoi: bool) -> Option<bool> {
        let (word_start, word_end) = self.edges[pid];
        if word_start && char_before(hay, s).is_some_and(is_word_char) {
            return Some(false);
        }
        if !word_end {
            return Some(true);
        }
        match char_at(hay, e) {
            Some(c) => Some(!is_word_char(c)),
            None if eoi => Some(true),
            None => None,
        }
    }
}

/// The character ending at absolute folded offset `at`, if held.
fn char_before(hay: &Hay<'_>, at: usize) -> Option<char> {
    (1..=4).find_map(|k| {
        let s = at.checked_sub(k).filter(|&s| s >= hay.base())?;
        if hay.byte(s) & 0xC0 == 0x80 {
            return None;
        }
        std::str::from_utf8(hay.slice(s, at)).ok()?.chars().next()
    })
}

/// The character starting at absolute folded offset `at`, if held.
fn char_at(hay: &Hay<'_>, at: usize) -> Option<char> {
    if at >= hay.end() {
        return None;
    }
    let len = match hay.byte(at) {
        b if b < 0x80 => 1,
        b if b >= 0xF0 => 4,
        b if b >= 0xE0 => 3,
        _ => 2,
    };
    std::str::from_utf8(hay.slice(at, at + len))
        .ok()?
        .chars()
        .next()
}

/// Per-stream state of [`KeywordDetector`].
#[derive(Debug)]
pub(crate) struct KeywordCursor {
    sid: StateID,
    /// Next absolute folded offset to read.
    at: usize,
    /// Matches waiting for the character after them.
    waiting: Vec<(usize, usize, usize)>,
}

impl Detector for KeywordDetector {
    type Cursor = KeywordCursor;

    fn fold(&self) -> Fold {
        Fold::Caseless
    }

    fn cursor(&self) -> KeywordCursor {
        KeywordCursor {
            sid: self.start,
            at: 0,
            waiting: Vec::new(),
        }
    }

    fn scan(&self, cur: &mut KeywordCursor, hay: &Hay<'_>, eoi: bool, out: &mut Vec<Finding>) -> usize {
        let end = hay.end();
        let confirm = |pid: usize, s: usize, e: usize, out: &mut Vec<Finding>| {
            out.push(Finding {
                start: s,
                end: e,
                kind: pid as u32,
                note: None,
            });
        };
        let mut waiting = std::mem::take(&mut cur.waiting);
        waiting.retain(|&(pid, s, e)| match self.bounded(hay, pid, s, e, eoi) {
            Some(true) => {
                confirm(pid, s, e, out);
                false
            }
            Some(false) => false,
            None => true,
        });
        let bytes = &hay.bytes()[cur.at - hay.base()..];
        let mut sid = cur.sid;
        for (i, &b) in bytes.iter().enumerate() {
            sid = self.ac.next_state(Anchored::No, sid, b);
            if self.ac.is_special(sid) && self.ac.is_match(sid) {
                let e = cur.at + i + 1;
                for m in 0..self.ac.match_len(sid) {
                    let pid = self.ac.match_pattern(sid, m).as_usize();
                    let s = e - self.ac.pattern_len(self.ac.match_pattern(sid, m));
                    match self.bounded(hay, pid, s, e, eoi) {
                        Some(true) => confirm(pid, s, e, out),
                        Some(false) => {}
                        None => waiting.push((pid, s, e)),
                    }
                }
            }
        }
        cur.sid = sid;
        cur.at = end;
        cur.waiting = waiting;
        let held = self.depth.get(&sid).copied().unwrap_or(0);
        let frontier = end - held.min(end);
        cur.waiting
            .iter()
            .map(|w| w.1)
            .fold(frontier, usize::min)
    }

    fn entity(&self, kind: u32) -> &str {
        self.terms.get(kind as usize).map_or("", String::as_str)
    }

    fn label(&self, _kind: u32) -> &str {
        self.label
    }
}
