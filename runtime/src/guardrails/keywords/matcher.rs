//! The incremental term matcher behind [`Keywords`](super::Keywords).
//!
//! A term that begins with a word character can only match where a word
//! begins (its left boundary), so those terms are matched by walking an
//! *anchored* Aho-Corasick DFA from each word start: most walks die after a
//! byte or two, and between word starts the scan only classifies bytes with
//! a table. Walks that are still alive at the end of a chunk carry over to
//! the next, and the earliest of them is all a chunk hook holds back. Terms
//! that begin with a symbol (`@handle`, `+1`) can start anywhere and go to a
//! second, unanchored DFA stepped on every byte; its state's depth (the
//! longest term prefix ending the text so far, computed once by a
//! breadth-first walk of the DFA) is what that DFA holds back. A match that
//! ends in a word character waits for the next character to confirm its
//! right boundary.
//!
//! Word starts are found 64 bytes at a time as a bit mask, and only words at
//! least as long as the shortest term's first word are considered. Before a
//! walk starts, a filter of the terms' first four bytes (4 KB, so
//! it stays in cache) rules out most word starts without touching the DFA,
//! whose rows for a thousand terms do not fit in cache. The filter only
//! skips walks that could not match, so results do not depend on it.
//!
//! Text inside an explicit RTL override is displayed right to left, so a
//! second set of automata, built from each spelling reversed, reads each
//! such run (the window records them) as a text of its own, in logical
//! order: a match there is the term as displayed. A run's edges count as
//! word boundaries (the override and its closer sit there), so
//! `\u{202E}emca\u{202C}` is `acme`; a run still open holds back what
//! could begin a match in it, as the forward scan does. Text with no
//! override never reaches this second scan.

mod prefilter;
use prefilter::*;

use std::collections::{HashMap, VecDeque};

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind, StartKind};

use crate::guardrails::error::GuardrailError;
use crate::guardrails::scan::engine::{Detector, Finding, Hay};
use crate::guardrails::scan::fold::{Fold, is_word_char};
use crate::guardrails::scan::runs::{block_mask, gather_high, long_runs, low_bits};

/// The unanchored DFA for terms that begin with a symbol.
struct Unanchored {
    ac: DFA,
    start: StateID,
    depth: HashMap<StateID, usize>,
}

/// One compiled set of patterns (the folded spellings of the terms, or
/// those spellings reversed).
struct Matcher {
    /// Patterns beginning with a word character, anchored, and their
    /// pattern ids.
    words: Option<(DFA, StateID, Vec<usize>)>,
    /// Rules out word starts for `words`.
    filter: StartFilter,
    /// The fewest word bytes any pattern in `words` begins with: a word
    /// start followed by fewer cannot begin one.
    lead: usize,
    /// The other patterns and their pattern ids.
    others: Option<(Unanchored, Vec<usize>)>,
    /// Whether each pattern starts / ends with a word character.
    edges: Vec<(bool, bool)>,
    /// The term each pattern spells.
    term: Vec<usize>,
}

/// The compiled term set: the terms' folded spellings, matched in logical
/// order everywhere, and reversed inside explicit RTL overrides.
pub(crate) struct KeywordDetector {
    fwd: Matcher,
    rev: Matcher,
    /// How many terms were configured (term ids are `0..terms`). The terms
    /// themselves are not kept: a finding is reported by its label, never
    /// by the term it matched.
    pub(crate) terms: usize,
    pub(crate) label: &'static str,
    pub(crate) name: &'static str,
}

impl std::fmt::Debug for KeywordDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeywordDetector")
            .field("terms", &self.terms)
            .field("spellings", &self.fwd.term.len())
            .finish_non_exhaustive()
    }
}

impl KeywordDetector {
    /// Compiles `spellings` (folded patterns, each with the id of the term
    /// it spells, below `terms`).
    pub(crate) fn new(
        spellings: Vec<(String, usize)>,
        terms: usize,
        label: &'static str,
        name: &'static str,
    ) -> Result<Self, GuardrailError> {
        let reversed = spellings
            .iter()
            .map(|(p, id)| (p.chars().rev().collect(), *id))
            .collect();
        Ok(Self {
            fwd: Matcher::new(spellings, name)?,
            rev: Matcher::new(reversed, name)?,
            terms,
            label,
            name,
        })
    }
}

impl Matcher {
    fn new(patterns: Vec<(String, usize)>, name: &'static str) -> Result<Self, GuardrailError> {
        let err = |e: Box<dyn std::error::Error + Send + Sync>| GuardrailError::Automaton {
            guardrail: name,
            source: e,
        };
        let (folded, term): (Vec<String>, Vec<usize>) = patterns.into_iter().unzip();
        let edges: Vec<(bool, bool)> = folded
            .iter()
            .map(|f| {
                let first = f.chars().next().is_some_and(is_word_char);
                let last = f.chars().next_back().is_some_and(is_word_char);
                (first, last)
            })
            .collect();
        let (word_ids, other_ids): (Vec<usize>, Vec<usize>) =
            (0..folded.len()).partition(|&i| edges[i].0);
        let build = |ids: &[usize], kind: StartKind| {
            DFA::builder()
                .match_kind(MatchKind::Standard)
                .ascii_case_insensitive(true)
                .start_kind(kind)
                .prefilter(false)
                .build(ids.iter().map(|&i| &folded[i]))
                .map_err(|e| err(Box::new(e)))
        };
        let filter = StartFilter::new(word_ids.iter().map(|&i| folded[i].as_bytes()));
        let lead = word_ids
            .iter()
            .map(|&i| {
                folded[i]
                    .chars()
                    .take_while(|&c| is_word_char(c))
                    .map(char::len_utf8)
                    .sum::<usize>()
            })
            .min()
            .unwrap_or(1)
            .clamp(1, 64);
        let words = match word_ids.is_empty() {
            true => None,
            false => {
                let ac = build(&word_ids, StartKind::Anchored)?;
                let start = ac
                    .start_state(Anchored::Yes)
                    .map_err(|e| err(Box::new(e)))?;
                Some((ac, start, word_ids))
            }
        };
        let others = match other_ids.is_empty() {
            true => None,
            false => {
                let ac = build(&other_ids, StartKind::Unanchored)?;
                let start = ac.start_state(Anchored::No).map_err(|e| err(Box::new(e)))?;
                // Breadth-first from the start: the first time a state is
                // reached, the path read is its trie string, so the distance
                // is its depth.
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
                Some((Unanchored { ac, start, depth }, other_ids))
            }
        };
        Ok(Self {
            words,
            filter,
            lead,
            others,
            edges,
            term,
        })
    }

    /// Whether a match of term `id` over `[s, e)` has word boundaries where
    /// it needs them; `None` when the character after it has not arrived.
    fn bounded(&self, hay: &Hay<'_>, id: usize, s: usize, e: usize, eoi: bool) -> Option<bool> {
        let (word_start, word_end) = self.edges[id];
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

    /// Walks the anchored DFA for a walk that began at `walk.0` (in state
    /// `walk.1`) over the bytes from `from` to the end of `hay`, reporting
    /// terms that match from the walk's start. Returns the state when the
    /// walk is still alive at the end (and more text may follow).
    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        ac: &DFA,
        ids: &[usize],
        hay: &Hay<'_>,
        walk: (usize, StateID),
        from: usize,
        eoi: bool,
        waiting: &mut Vec<(usize, usize, usize)>,
        out: &mut Vec<Finding>,
    ) -> Option<StateID> {
        let (s, mut sid) = walk;
        for (k, &b) in hay.bytes()[from - hay.base()..].iter().enumerate() {
            sid = ac.next_state(Anchored::Yes, sid, b);
            if ac.is_special(sid) {
                if ac.is_dead(sid) {
                    return None;
                }
                let e = from + k + 1;
                for m in 0..ac.match_len(sid) {
                    let p = ac.match_pattern(sid, m);
                    // Matches of terms that begin later are found by the
                    // walk from their own start.
                    if ac.pattern_len(p) == e - s {
                        self.candidate(hay, ids[p.as_usize()], s, e, eoi, waiting, out);
                    }
                }
            }
        }
        (!eoi).then_some(sid)
    }

    /// Confirms, drops or parks a candidate match.
    #[allow(clippy::too_many_arguments)]
    fn candidate(
        &self,
        hay: &Hay<'_>,
        id: usize,
        s: usize,
        e: usize,
        eoi: bool,
        waiting: &mut Vec<(usize, usize, usize)>,
        out: &mut Vec<Finding>,
    ) {
        match self.bounded(hay, id, s, e, eoi) {
            Some(true) => out.push(self.finding(id, s, e)),
            Some(false) => {}
            None => waiting.push((id, s, e)),
        }
    }

    /// A confirmed match of pattern `id` over `[s, e)`.
    fn finding(&self, id: usize, s: usize, e: usize) -> Finding {
        Finding {
            start: s,
            end: e,
            kind: self.term[id] as u32,
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

/// Length of the UTF-8 sequence a byte starts (1 for a stray continuation
/// byte, so a scan always moves on).
fn utf8_len(b: u8) -> usize {
    match b {
        b if b >= 0xF0 => 4,
        b if b >= 0xE0 => 3,
        b if b >= 0xC0 => 2,
        _ => 1,
    }
}

/// The character starting at absolute folded offset `at`, if held.
fn char_at(hay: &Hay<'_>, at: usize) -> Option<char> {
    if at >= hay.end() {
        return None;
    }
    let len = utf8_len(hay.byte(at));
    std::str::from_utf8(hay.slice(at, at + len))
        .ok()?
        .chars()
        .next()
}

/// Per-stream state of one [`Matcher`].
#[derive(Debug)]
struct MatchCursor {
    /// Next absolute folded offset to read.
    at: usize,
    /// Whether the character before `at` is a word character.
    prev_word: bool,
    /// Anchored walks alive: where each began and its state.
    walks: Vec<(usize, StateID)>,
    /// An empty vector kept for the next call's walks.
    spare: Vec<(usize, StateID)>,
    /// State of the unanchored DFA.
    other: StateID,
    /// Matches waiting for the character after them: pattern, start, end.
    waiting: Vec<(usize, usize, usize)>,
}

/// Per-stream state of [`KeywordDetector`].
#[derive(Debug)]
pub struct KeywordCursor {
    fwd: MatchCursor,
    /// The reversed run being read, by its start, and the reversed
    /// patterns' state in it.
    rev: Option<(usize, MatchCursor)>,
    /// Reversed runs starting before this folded offset are done.
    runs_done: usize,
}

impl Detector for KeywordDetector {
    type Cursor = KeywordCursor;

    fn fold(&self) -> Fold {
        Fold::Visual
    }

    fn cursor(&self) -> KeywordCursor {
        KeywordCursor {
            fwd: self.fwd.cursor(0),
            rev: None,
            runs_done: 0,
        }
    }

    /// Scans in logical order, then each reversed run (or the part of it
    /// not read yet) with the reversed patterns, as a text of its own: a
    /// run's edges are word boundaries, and a run still open holds back
    /// what could begin a match in it.
    fn scan(
        &self,
        cur: &mut KeywordCursor,
        hay: &Hay<'_>,
        eoi: bool,
        out: &mut Vec<Finding>,
    ) -> usize {
        let mut frontier = self.fwd.scan(&mut cur.fwd, hay, eoi, out);
        for run in hay.runs() {
            if run.start < cur.runs_done {
                continue;
            }
            let mut rc = match cur.rev.take() {
                Some((s, rc)) if s == run.start => rc,
                _ => self.rev.cursor(run.start),
            };
            let end = run.end.unwrap_or(hay.end());
            let closed = eoi || run.end.is_some();
            let f = self
                .rev
                .scan(&mut rc, &hay.sub(run.start, end), closed, out);
            if closed {
                cur.runs_done = end.max(run.start + 1);
            } else {
                frontier = frontier.min(f);
                cur.rev = Some((run.start, rc));
            }
        }
        frontier
    }

    fn entity(&self, _kind: u32) -> &str {
        // The label, not the term: results and tripwires never carry a
        // configured term (it may be a confidential codename).
        self.label
    }

    fn label(&self, _kind: u32) -> &str {
        self.label
    }
}

impl Matcher {
    /// A cursor that reads from absolute folded offset `at`.
    fn cursor(&self, at: usize) -> MatchCursor {
        MatchCursor {
            at,
            prev_word: false,
            walks: Vec::new(),
            spare: Vec::new(),
            other: self.others.as_ref().map_or(StateID::ZERO, |o| o.0.start),
            waiting: Vec::new(),
        }
    }

    /// Scans the bytes of `hay` the cursor has not read: see
    /// [`Detector::scan`].
    fn scan(
        &self,
        cur: &mut MatchCursor,
        hay: &Hay<'_>,
        eoi: bool,
        out: &mut Vec<Finding>,
    ) -> usize {
        let (bytes, base, end) = (hay.bytes(), hay.base(), hay.end());
        let mut waiting = std::mem::take(&mut cur.waiting);
        waiting.retain(|&(id, s, e)| match self.bounded(hay, id, s, e, eoi) {
            Some(true) => {
                out.push(self.finding(id, s, e));
                false
            }
            Some(false) => false,
            None => true,
        });
        let mut frontier = end;
        if let Some((o, ids)) = &self.others {
            let mut sid = cur.other;
            for (i, &b) in bytes[cur.at - base..].iter().enumerate() {
                sid = o.ac.next_state(Anchored::No, sid, b);
                if o.ac.is_special(sid) && o.ac.is_match(sid) {
                    let e = cur.at + i + 1;
                    for m in 0..o.ac.match_len(sid) {
                        let p = o.ac.match_pattern(sid, m);
                        let s = e - o.ac.pattern_len(p);
                        self.candidate(hay, ids[p.as_usize()], s, e, eoi, &mut waiting, out);
                    }
                }
            }
            cur.other = sid;
            frontier = end - o.depth.get(&sid).copied().unwrap_or(0).min(end);
        }
        if let Some((ac, start, ids)) = &self.words {
            // Two vectors swapped between calls, so a chunk allocates nothing.
            let mut walks = std::mem::take(&mut cur.spare);
            walks.clear();
            let mut carried = std::mem::take(&mut cur.walks);
            // Walks carried over from the last chunk go on from where it ended.
            for (s, sid) in carried.drain(..) {
                if let Some(sid) = self.walk(ac, ids, hay, (s, sid), cur.at, eoi, &mut waiting, out)
                {
                    walks.push((s, sid));
                }
            }
            cur.spare = carried;
            let mut prev = cur.prev_word;
            let mut i = cur.at;
            while i < end {
                // 64 bytes at a time, ending on a character boundary.
                let mut stop = (i + 64).min(end);
                while stop < end && stop > i + 1 && bytes[stop - base] & 0xC0 == 0x80 {
                    stop -= 1;
                }
                let block = &bytes[i - base..stop - base];
                // Word characters as a bit mask: ASCII by table, other
                // characters decoded (all their bytes get the same bit, so
                // only a first byte can start a word).
                let mut m = word_mask(block);
                if !block.is_ascii() {
                    let mut rest = block_mask(block, &NON_ASCII);
                    while rest != 0 {
                        let k = rest.trailing_zeros() as usize;
                        let bits = low_bits(utf8_len(block[k])) << k;
                        if char_at(hay, i + k).is_some_and(is_word_char) {
                            m |= bits;
                        }
                        rest &= !bits;
                    }
                }
                let mut starts = m & !((m << 1) | u64::from(prev));
                if self.lead > 1 {
                    // Only words of at least `lead` word bytes; a start too
                    // close to the block's end to tell stays.
                    let near_end = !low_bits(block.len().saturating_sub(self.lead - 1));
                    starts &= long_runs(m, self.lead) | near_end;
                }
                prev = (m >> (block.len() - 1)) & 1 == 1;
                while starts != 0 {
                    let s = i + starts.trailing_zeros() as usize;
                    starts &= starts - 1;
                    if self.filter.admits(bytes, s - base)
                        && let Some(sid) =
                            self.walk(ac, ids, hay, (s, *start), s, eoi, &mut waiting, out)
                    {
                        walks.push((s, sid));
                    }
                }
                i = stop;
            }
            cur.prev_word = prev;
            frontier = walks.iter().map(|w| w.0).fold(frontier, usize::min);
            cur.walks = walks;
        }
        cur.at = end;
        frontier = waiting.iter().map(|w| w.1).fold(frontier, usize::min);
        cur.waiting = waiting;
        frontier
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_mask_matches_the_table() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        for block in bytes.chunks(64).chain([&bytes[3..50], &bytes[90..97]]) {
            assert_eq!(word_mask(block), block_mask(block, &WORD), "{block:?}");
        }
    }
}
