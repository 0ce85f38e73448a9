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

mod dfa;
use dfa::*;

use std::sync::{Arc, LazyLock};

use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::nfa::thompson;
use regex_automata::util::{start, syntax};
use regex_automata::{Anchored, Input, MatchKind, PatternID};

use crate::guardrails::error::GuardrailError;
use crate::guardrails::pipeline::{Build, PipelineError, Registered};
use crate::guardrails::scan::engine::{Detector, Finding, Hay, Scanner, Tally, Treatment};
use crate::guardrails::scan::fold::Fold;
use crate::guardrails::scan::hooks::{ScanGuard, scan_hooks};
use crate::guardrails::{Check, Guardrail, STAGES_ALL};
use crate::hooks::Stage;
use crate::limits::PII_HOLD_CAP;
use patterns::{Validator, any, builtins};

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
    fn scanner(&self) -> &Scanner<DfaDetector> {
        &self.scanner
    }
    fn reason(&self, tally: &Tally) -> String {
        format!("PII detected: {}", tally.names())
    }
}

scan_hooks!(Pii, PiiState, DfaCursor);

/// `config` of "Contains PII" in a pipeline bundle.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PiiConfig {
    entities: Option<Vec<String>>,
    #[serde(default)]
    block: bool,
}

impl Registered for PiiConfig {
    const NAME: &'static str = "Contains PII";
    type Guard = Pii;

    fn build(self, cx: &Build<'_>) -> Result<Pii, PipelineError> {
        let mut builder = Pii::builder();
        if let Some(names) = self.entities {
            let mut entities = Vec::new();
            for (i, n) in names.iter().enumerate() {
                let e = PiiEntity::ALL
                    .into_iter()
                    .find(|e| e.as_str() == n)
                    .ok_or_else(|| {
                        let known: Vec<&str> = PiiEntity::ALL.map(PiiEntity::as_str).to_vec();
                        cx.bad(
                            &format!("entities[{i}]"),
                            format!("unsupported entity `{n}`; supported: {}", known.join(", ")),
                        )
                    })?;
                entities.push(e);
            }
            if entities.is_empty() {
                return Err(cx.bad("entities", "needs at least one entity"));
            }
            builder = builder.entities(entities);
        }
        let pii = builder.build().map_err(|e| cx.bad("entities", e))?;
        let action = if self.block {
            PiiAction::Block
        } else {
            PiiAction::Mask
        };
        Ok(pii.action(action))
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
