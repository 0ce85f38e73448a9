//! `Keywords`: block or mask configured terms (and the competitor preset).
//!
//! Terms match case-insensitively, on word boundaries, in folded text (see
//! [`fold`](super::fold)): `ACME`, `Ａｃｍｅ` and `ac\u{200B}me` all match
//! `acme`, `acmecorp` does not. A boundary is required only at an edge of the
//! term that is a word character, so `c++` matches in `I like c++.`.
//! Trailing `.,!?;:` of a configured term are ignored (`"Acme."` is `acme`).
//!
//! How terms are matched in a stream is described in `keyword_scan`.

use std::sync::Arc;

use super::engine::{Scanner, Tally, Treatment};
use super::error::GuardrailError;
use super::fold::{Fold, fold_str};
use super::keyword_scan::{KeywordCursor, KeywordDetector};
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
        let name = if competitors {
            "competitors"
        } else {
            "keywords"
        };
        let mut shown = Vec::new();
        let mut folded = Vec::new();
        for term in terms {
            let trimmed = term.as_ref().trim().trim_end_matches(TRAILING).trim();
            let f = fold_str(trimmed, Fold::Caseless);
            let f = f.trim_end_matches(TRAILING).trim();
            if !f.is_empty() {
                folded.push(f.to_owned());
                shown.push(trimmed.to_owned());
            }
        }
        if folded.is_empty() {
            return Err(GuardrailError::NoTerms { guardrail: name });
        }
        let det = KeywordDetector::new(folded, shown, label, name)?;
        Ok(Self {
            scanner: Scanner::new(Arc::new(det), Treatment::Block),
            competitors,
        })
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
