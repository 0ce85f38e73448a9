//! The detector behind [`Pii`]: the patterns as one regex DFA, stepped byte
//! by byte, with its reverse DFA to find where a match starts.

use super::*;

/// One compiled pattern: its name and the check a match must pass.
pub(super) struct Entry {
    pub(super) name: String,
    pub(super) valid: Validator,
}

/// A set of byte regexes, searched incrementally.
pub(crate) struct DfaDetector {
    pub(super) fwd: dense::DFA<Vec<u32>>,
    pub(super) rev: dense::DFA<Vec<u32>>,
    /// Start state at the beginning of the text, and after each byte.
    pub(super) start_none: regex_automata::util::primitives::StateID,
    pub(super) start_after: Vec<regex_automata::util::primitives::StateID>,
    pub(super) entries: Vec<Entry>,
    /// Whether words without a trigger byte may be skipped: true for the
    /// built-in patterns only (see [`DfaDetector::skip`]).
    pub(super) skip_words: bool,
}

impl std::fmt::Debug for DfaDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DfaDetector")
            .field("patterns", &self.entries.len())
            .finish_non_exhaustive()
    }
}

pub(super) fn automaton_error(e: impl std::error::Error + Send + Sync + 'static) -> GuardrailError {
    GuardrailError::Automaton {
        guardrail: "pii",
        source: Box::new(e),
    }
}

impl DfaDetector {
    pub(super) fn new(
        entities: &[PiiEntity],
        custom: &[(String, String)],
    ) -> Result<Self, GuardrailError> {
        let mut regexes: Vec<String> = Vec::new();
        let mut entries = Vec::new();
        for b in builtins() {
            if entities.contains(&b.entity) {
                regexes.push(b.regex.to_owned());
                entries.push(Entry {
                    name: b.entity.as_str().to_owned(),
                    valid: b.valid,
                });
            }
        }
        let syntax = syntax::Config::new().unicode(false).utf8(false);
        for (name, regex) in custom {
            let hir = syntax::parse_with(regex, &syntax).map_err(|e| GuardrailError::Pattern {
                guardrail: "pii",
                name: name.clone(),
                source: Box::new(e),
            })?;
            if hir.properties().minimum_len().is_none_or(|n| n == 0) {
                return Err(GuardrailError::EmptyMatch {
                    guardrail: "pii",
                    name: name.clone(),
                });
            }
            regexes.push(regex.clone());
            entries.push(Entry {
                name: name.clone(),
                valid: any,
            });
        }
        if regexes.is_empty() {
            return Err(GuardrailError::NoTerms { guardrail: "pii" });
        }
        let nfa = |reverse| thompson::Config::new().utf8(false).reverse(reverse);
        let fwd = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    .specialize_start_states(true)
                    .accelerate(false),
            )
            .syntax(syntax)
            .thompson(nfa(false))
            .build_many(&regexes)
            .map_err(automaton_error)?;
        let rev = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .start_kind(StartKind::Anchored)
                    .match_kind(MatchKind::All)
                    .starts_for_each_pattern(true)
                    .accelerate(false),
            )
            .syntax(syntax)
            .thompson(nfa(true))
            .build_many(&regexes)
            .map_err(automaton_error)?;
        let unanchored = start::Config::new().anchored(Anchored::No);
        let start_none = fwd
            .start_state(&unanchored.clone().look_behind(None))
            .map_err(automaton_error)?;
        let start_after = (0..=255u8)
            .map(|b| fwd.start_state(&unanchored.clone().look_behind(Some(b))))
            .collect::<Result<Vec<_>, _>>()
            .map_err(automaton_error)?;
        Ok(Self {
            fwd,
            rev,
            start_none,
            start_after,
            entries,
            skip_words: custom.is_empty(),
        })
    }

    /// Skipping ahead: with only built-in patterns, every match holds a
    /// trigger byte (a digit, `@` or `:`) before its first whitespace (its
    /// first group of digits, the `@` of an address, the `:` of an IPv6
    /// address). So when the DFA is at rest (in a start state) at `from`,
    /// no match begins before the last whitespace ahead of the next trigger,
    /// and a partial match begun there dies at that whitespace: the DFA
    /// would come out of it at rest. Returns the offset just after that
    /// whitespace, found with byte scans (a trigger is rare in prose), or
    /// `None` when there is nothing to skip.
    pub(super) fn skip(&self, bytes: &[u8], base: usize, from: usize, end: usize) -> Option<usize> {
        if !self.skip_words {
            return None;
        }
        let region = &bytes[from - base..end - base];
        let t = next_trigger(region);
        let ws = region[..t]
            .iter()
            .rposition(|&b| CLASS[usize::from(b)] == SPACE)?;
        Some(from + ws + 1)
    }

    /// The start state for a search beginning at absolute offset `at`.
    pub(super) fn start_at(
        &self,
        hay: &Hay<'_>,
        at: usize,
    ) -> regex_automata::util::primitives::StateID {
        match hay.byte_before(at) {
            Some(b) => self.start_after[usize::from(b)],
            None => self.start_none,
        }
    }

    /// Finds where the match of `pid` ending at `end` starts (not before
    /// `lo`) and keeps it if it passes its check.
    pub(super) fn confirm(
        &self,
        hay: &Hay<'_>,
        lo: usize,
        end: usize,
        pid: PatternID,
        out: &mut Vec<Finding>,
    ) {
        let base = hay.base();
        let lo = lo.clamp(base, end);
        let input = Input::new(hay.bytes())
            .range(lo - base..end - base)
            .anchored(Anchored::Pattern(pid));
        let Ok(Some(start)) = self.rev.try_search_rev(&input) else {
            return;
        };
        let s = base + start.offset();
        let Some(entry) = self.entries.get(pid.as_usize()) else {
            return;
        };
        let Some(len) = (entry.valid)(hay.slice(s, end)).filter(|&n| n > 0) else {
            return;
        };
        if s < end {
            out.push(Finding {
                start: s,
                end: (s + len).min(end),
                kind: pid.as_u32(),
            });
        }
    }
}

/// Offset of the first trigger byte (digit, `:` or `@`) in `bytes`, or its
/// length. Tests eight bytes at a time with the byte-range tricks of
/// "Bit Twiddling Hacks" (exact for ASCII bytes; bytes of 128 and up never
/// count); the lowest byte flagged in the first word that has one is it.
pub(super) fn next_trigger(bytes: &[u8]) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const LOW7: u64 = LO * 127;
    let mut words = bytes.chunks_exact(8);
    let mut n = 0;
    for w in &mut words {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        // Bytes in 0x30..=0x3A (digits and ':'), then bytes equal to '@'.
        let (m, k) = (0x2F, 0x3B);
        let range =
            ((LO * (127 + k)).wrapping_sub(x & LOW7) & !x & ((x & LOW7) + LO * (127 - m))) & HI;
        let at = x ^ (LO * u64::from(b'@'));
        let at = at.wrapping_sub(LO) & !at & HI;
        // Both tests are exact for the lowest byte flagged (a borrow only
        // flags bytes above a true one), which is all that is read.
        let hit = range | at;
        if hit != 0 {
            return n + (hit.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + words
        .remainder()
        .iter()
        .position(|&b| CLASS[usize::from(b)] == TRIGGER)
        .unwrap_or(words.remainder().len())
}

pub(super) const OTHER: u8 = 0;
pub(super) const SPACE: u8 = 1;
pub(super) const TRIGGER: u8 = 2;

/// Byte classes for skipping ahead (see [`DfaDetector::skip`]).
pub(super) static CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c.is_ascii_whitespace() {
            SPACE
        } else if c.is_ascii_digit() || c == b'@' || c == b':' {
            TRIGGER
        } else {
            OTHER
        };
        b += 1;
    }
    t
};

/// Per-stream state of [`DfaDetector`].
#[derive(Debug)]
pub struct DfaCursor {
    pub(super) sid: regex_automata::util::primitives::StateID,
    /// Next absolute folded offset to read.
    pub(super) at: usize,
    /// No match confirmed later starts before this offset.
    pub(super) lo: usize,
    /// The longest match so far of the leftmost candidate: end and pattern.
    pub(super) pending: Option<(usize, PatternID)>,
}

impl Detector for DfaDetector {
    type Cursor = DfaCursor;

    fn fold(&self) -> Fold {
        Fold::Exact
    }

    fn cursor(&self) -> DfaCursor {
        DfaCursor {
            sid: self.start_none,
            at: 0,
            lo: 0,
            pending: None,
        }
    }

    fn scan(&self, cur: &mut DfaCursor, hay: &Hay<'_>, eoi: bool, out: &mut Vec<Finding>) -> usize {
        let (bytes, base, end) = (hay.bytes(), hay.base(), hay.end());
        loop {
            let mut at = cur.at;
            let mut sid = cur.sid;
            let mut dead = None;
            // A match found is settled at the latest `MATCH_GRACE` bytes
            // after its end, even if a longer one could still follow.
            let mut stop = cur.pending.map_or(end, |(e, _)| end.min(e + MATCH_GRACE));
            while at < stop {
                sid = self.fwd.next_state(sid, bytes[at - base]);
                if self.fwd.is_special_state(sid) {
                    if self.fwd.is_start_state(sid) {
                        cur.lo = at + 1;
                        if let Some(next) = self.skip(bytes, base, at + 1, end) {
                            // No match can begin before `next`: resume there,
                            // at rest, after the whitespace before it.
                            at = next;
                            sid = self.start_after[usize::from(bytes[at - 1 - base])];
                            cur.lo = at;
                            continue;
                        }
                    } else if self.fwd.is_match_state(sid) {
                        // Match states are delayed by one byte: the match
                        // ended before the byte just read.
                        cur.pending = Some((at, self.fwd.match_pattern(sid, 0)));
                        stop = end.min(at + MATCH_GRACE);
                    } else if self.fwd.is_dead_state(sid) {
                        dead = Some(at);
                        break;
                    }
                }
                at += 1;
            }
            cur.sid = sid;
            cur.at = at;
            let settled_at = match dead {
                Some(d) => d,
                // A match pending for `MATCH_GRACE` bytes.
                None if at < end => at,
                None if eoi => {
                    let last = self.fwd.next_eoi_state(cur.sid);
                    if self.fwd.is_match_state(last) {
                        cur.pending = Some((end, self.fwd.match_pattern(last, 0)));
                    }
                    end
                }
                None => break,
            };
            let restart = match cur.pending.take() {
                Some((e, pid)) => {
                    let lo = cur.lo.max(settled_at.saturating_sub(PII_HOLD_CAP));
                    self.confirm(hay, lo, e, pid, out);
                    e
                }
                // Unanchored leftmost-first searches die only after a match;
                // should one not, go on after the byte that killed it.
                None if dead.is_some() => settled_at + 1,
                None => break,
            };
            cur.sid = self.start_at(hay, restart);
            cur.at = restart;
            cur.lo = restart;
            if dead.is_none() && restart >= end {
                break;
            }
        }
        cur.lo.max(end.saturating_sub(PII_HOLD_CAP)).min(end)
    }

    fn entity(&self, kind: u32) -> &str {
        self.entries.get(kind as usize).map_or("", |e| &e.name)
    }

    fn label(&self, kind: u32) -> &str {
        self.entity(kind)
    }
}
