//! `Pii`: find personal data and mask, redact, hash or block it.
//!
//! All patterns (built-in and custom) are compiled into one forward DFA and
//! one reverse DFA (`regex-automata`, dense). The forward DFA is stepped one
//! byte at a time with its state kept across chunks, with leftmost-first
//! semantics: once a match can grow no more (the DFA dies, or the text
//! ends), or has waited half of [`PII_HOLD_CAP`] bytes for a longer one, the
//! reverse DFA, anchored at the match's end, finds where it starts, as
//! `regex-automata`'s own `find_iter` does, and the search goes on from the
//! match's end. Start states are specialised so the scan knows when
//! no partial match is alive: everything before that point can be emitted.
//! A partial match older than [`PII_HOLD_CAP`] bytes is given up, so a chunk
//! hook never holds more than that.

mod patterns;

use std::sync::{Arc, LazyLock};

use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::nfa::thompson;
use regex_automata::util::{start, syntax};
use regex_automata::{Anchored, Input, MatchKind, PatternID};

use crate::guardrails::error::GuardrailError;
use crate::guardrails::scan::engine::{Detector, Finding, Hay, Scanner, Tally, Treatment};
use crate::guardrails::scan::fold::Fold;
use crate::guardrails::scan::hooks::{ScanGuard, scan_hooks};
use crate::guardrails::{Check, Guardrail, STAGES_ALL};
use crate::hooks::Stage;
use patterns::{Validator, any, builtins};

/// The most a PII chunk hook holds back, in folded bytes: a candidate that
/// has not completed within this many bytes is given up. Far above the
/// longest built-in match (an e-mail address is at most 254 bytes).
pub const PII_HOLD_CAP: usize = 512;

/// How long a match found waits for a longer one, in folded bytes: the
/// search settles it at the latest this far past its end. Half the hold
/// cap, so a match settled then still lies within the bytes held (the
/// longest built-in match, an e-mail address, is at most 254 bytes long),
/// and the search never goes back before what was emitted.
const MATCH_GRACE: usize = PII_HOLD_CAP / 2;

/// The kinds of personal data [`Pii`] finds built in, named as Presidio and
/// openai-guardrails name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PiiEntity {
    /// An e-mail address: `EMAIL_ADDRESS`.
    EmailAddress,
    /// A phone number: `PHONE_NUMBER` (international `+…`, `(…)` area codes,
    /// North American `555-123-4567`; 7 to 15 digits).
    PhoneNumber,
    /// A payment card number passing the Luhn check: `CREDIT_CARD`.
    CreditCard,
    /// An IBAN passing the mod-97 check: `IBAN_CODE`.
    IbanCode,
    /// A US social security number (`123-45-6789`, `123 45 6789`) with a
    /// valid area, group and serial: `US_SSN`.
    UsSsn,
    /// An IPv4 or IPv6 address: `IP_ADDRESS`.
    IpAddress,
}

impl PiiEntity {
    /// Every built-in entity.
    pub const ALL: [PiiEntity; 6] = [
        Self::EmailAddress,
        Self::PhoneNumber,
        Self::CreditCard,
        Self::IbanCode,
        Self::UsSsn,
        Self::IpAddress,
    ];

    /// The entity's name, as in masks (`<EMAIL_ADDRESS>`) and results.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmailAddress => "EMAIL_ADDRESS",
            Self::PhoneNumber => "PHONE_NUMBER",
            Self::CreditCard => "CREDIT_CARD",
            Self::IbanCode => "IBAN_CODE",
            Self::UsSsn => "US_SSN",
            Self::IpAddress => "IP_ADDRESS",
        }
    }
}

/// What [`Pii`] does with what it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PiiAction {
    /// Replace with the entity's name: `<EMAIL_ADDRESS>` (the default).
    #[default]
    Mask,
    /// Remove.
    Redact,
    /// Replace with the entity's name and a stable short hash of the value:
    /// `<EMAIL_ADDRESS:3f2a9c1b>` (see [`Pii::hash_salt`]).
    Hash,
    /// Stop the call with a tripwire naming the entity types (never the
    /// values).
    Block,
}

/// Finds personal data in input, output and streamed output.
///
/// ```
/// use openai_hooks::guardrails::{Pii, PiiAction};
///
/// let pii = Pii::new();
/// let checked = pii.check("mail jane.doe@example.com, card 4111 1111 1111 1111");
/// assert_eq!(checked.text.as_deref(), Some("mail <EMAIL_ADDRESS>, card <CREDIT_CARD>"));
///
/// let strict = Pii::new().action(PiiAction::Block);
/// assert!(strict.check("SSN 123-45-6789").tripped);
/// ```
#[derive(Debug, Clone)]
pub struct Pii {
    scanner: Scanner<DfaDetector>,
}

/// The detector for every built-in entity, built once per process (building
/// the DFAs takes a noticeable fraction of a second).
static ALL_BUILTINS: LazyLock<Arc<DfaDetector>> = LazyLock::new(|| {
    Arc::new(
        DfaDetector::new(&PiiEntity::ALL, &[])
            .expect("the built-in PII patterns compile (covered by tests)"),
    )
});

impl Default for Pii {
    fn default() -> Self {
        Self::new()
    }
}

impl Pii {
    /// Every built-in entity, masked.
    pub fn new() -> Self {
        Self {
            scanner: Scanner::new(Arc::clone(&ALL_BUILTINS), Treatment::Mask),
        }
    }

    /// Chooses entities and adds patterns of your own.
    pub fn builder() -> PiiBuilder {
        PiiBuilder {
            entities: PiiEntity::ALL.to_vec(),
            custom: Vec::new(),
        }
    }

    /// Whether strings in reply fields this crate's types do not name
    /// (`annotations[].url_citation`, provider extras, kept in `extra`) are
    /// scanned, each value as a text of its own (default yes). Known
    /// channels (content, refusal, reasoning, tool calls, legacy function
    /// calls, audio transcripts) are always scanned.
    pub fn scan_unknown_fields(mut self, yes: bool) -> Self {
        self.scanner.scan_unknown = yes;
        self
    }

    /// Sets what happens to a finding.
    pub fn action(mut self, action: PiiAction) -> Self {
        self.scanner.treat = match action {
            PiiAction::Mask => Treatment::Mask,
            PiiAction::Redact => Treatment::Redact,
            PiiAction::Hash => Treatment::Hash,
            PiiAction::Block => Treatment::Block,
        };
        self
    }

    /// Sets a secret prefixed to each value before hashing
    /// ([`PiiAction::Hash`]): without one, anyone can confirm a guessed
    /// value from its hash.
    pub fn hash_salt(mut self, salt: impl Into<String>) -> Self {
        self.scanner.salt = Arc::from(salt.into());
        self
    }

    /// Checks one text, as a pre-request or post-response hook would.
    pub fn check(&self, text: &str) -> Check {
        Check::run(&self.scanner, text)
    }
}

/// Builds a [`Pii`] with chosen entities and custom patterns.
#[derive(Debug, Clone)]
pub struct PiiBuilder {
    entities: Vec<PiiEntity>,
    custom: Vec<(String, String)>,
}

impl PiiBuilder {
    /// Finds only these built-in entities.
    pub fn entities(mut self, entities: impl IntoIterator<Item = PiiEntity>) -> Self {
        self.entities = entities.into_iter().collect();
        self
    }

    /// Adds a pattern reported and masked as `name` (`<name>`). Patterns are
    /// byte regexes over the folded text: `\d`, `\w` and `\b` are ASCII; the
    /// pattern must not match empty text.
    pub fn pattern(mut self, name: impl Into<String>, regex: impl Into<String>) -> Self {
        self.custom.push((name.into(), regex.into()));
        self
    }

    /// Compiles the patterns; the result masks (see [`Pii::action`]).
    pub fn build(self) -> Result<Pii, GuardrailError> {
        let det = if self.custom.is_empty() && self.entities == PiiEntity::ALL {
            Arc::clone(&ALL_BUILTINS)
        } else {
            Arc::new(DfaDetector::new(&self.entities, &self.custom)?)
        };
        Ok(Pii {
            scanner: Scanner::new(det, Treatment::Mask),
        })
    }
}

impl Guardrail for Pii {
    fn name(&self) -> &'static str {
        "pii"
    }
    fn stages(&self) -> &'static [Stage] {
        STAGES_ALL
    }
}

impl ScanGuard for Pii {
    type Det = DfaDetector;
    fn guard_name(&self) -> &'static str {
        "pii"
    }
    fn scanner(&self) -> &Scanner<DfaDetector> {
        &self.scanner
    }
    fn reason(&self, tally: &Tally) -> String {
        format!("PII detected: {}", tally.names())
    }
}

scan_hooks!(Pii, PiiState, DfaCursor);

/// One compiled pattern: its name and the check a match must pass.
struct Entry {
    name: String,
    valid: Validator,
}

/// A set of byte regexes, searched incrementally.
pub(crate) struct DfaDetector {
    fwd: dense::DFA<Vec<u32>>,
    rev: dense::DFA<Vec<u32>>,
    /// Start state at the beginning of the text, and after each byte.
    start_none: regex_automata::util::primitives::StateID,
    start_after: Vec<regex_automata::util::primitives::StateID>,
    entries: Vec<Entry>,
    /// Whether words without a trigger byte may be skipped: true for the
    /// built-in patterns only (see [`DfaDetector::skip`]).
    skip_words: bool,
}

impl std::fmt::Debug for DfaDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DfaDetector")
            .field("patterns", &self.entries.len())
            .finish_non_exhaustive()
    }
}

fn automaton_error(e: impl std::error::Error + Send + Sync + 'static) -> GuardrailError {
    GuardrailError::Automaton {
        guardrail: "pii",
        source: Box::new(e),
    }
}

impl DfaDetector {
    fn new(entities: &[PiiEntity], custom: &[(String, String)]) -> Result<Self, GuardrailError> {
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
    fn skip(&self, bytes: &[u8], base: usize, from: usize, end: usize) -> Option<usize> {
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
    fn start_at(&self, hay: &Hay<'_>, at: usize) -> regex_automata::util::primitives::StateID {
        match hay.byte_before(at) {
            Some(b) => self.start_after[usize::from(b)],
            None => self.start_none,
        }
    }

    /// Finds where the match of `pid` ending at `end` starts (not before
    /// `lo`) and keeps it if it passes its check.
    fn confirm(
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
                note: None,
            });
        }
    }
}

/// Offset of the first trigger byte (digit, `:` or `@`) in `bytes`, or its
/// length. Tests eight bytes at a time with the byte-range tricks of
/// "Bit Twiddling Hacks" (exact for ASCII bytes; bytes of 128 and up never
/// count); the lowest byte flagged in the first word that has one is it.
fn next_trigger(bytes: &[u8]) -> usize {
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

const OTHER: u8 = 0;
const SPACE: u8 = 1;
const TRIGGER: u8 = 2;

/// Byte classes for skipping ahead (see [`DfaDetector::skip`]).
static CLASS: [u8; 256] = {
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
pub(crate) struct DfaCursor {
    sid: regex_automata::util::primitives::StateID,
    /// Next absolute folded offset to read.
    at: usize,
    /// No match confirmed later starts before this offset.
    lo: usize,
    /// The longest match so far of the leftmost candidate: end and pattern.
    pending: Option<(usize, PatternID)>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_trigger_finds_digits_colons_and_at() {
        assert_eq!(next_trigger(b""), 0);
        assert_eq!(next_trigger(b"hello world, no triggers here"), 29);
        for (text, at) in [
            ("abcdefgh ijklmnop 7", 18),
            ("abcdefgh@", 8),
            ("ab:", 2),
            ("/;?>ABCDEFGH0", 12),
            ("é0", 2),
            // A byte just above '@' or a digit after a true trigger, where
            // a borrow could flag a byte that is not one.
            ("abcde@A@", 5),
            ("abcdefg@A", 7),
            ("ab:A@", 2),
            ("abcdefgh?A@0", 10),
        ] {
            assert_eq!(next_trigger(text.as_bytes()), at, "{text}");
        }
        // Every byte value: exactly digits, ':' and '@' are triggers.
        for b in 0..=255u8 {
            let mut buf = [b'x'; 16];
            buf[11] = b;
            let want = if b.is_ascii_digit() || b == b':' || b == b'@' {
                11
            } else {
                16
            };
            assert_eq!(next_trigger(&buf), want, "byte {b:#x}");
        }
    }
}
