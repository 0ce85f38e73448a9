//! `Keywords`: block or mask configured terms (and the competitor preset).
//!
//! Terms match case-insensitively, on word boundaries, in folded text (see
//! [`fold`](crate::guardrails::scan::fold), mode `Visual`): what a reader sees, whatever the
//! Unicode disguise. A boundary is required only at an edge of the term
//! that is a word character, so `c++` matches in `I like c++.`. Trailing
//! `.,!?;:` of a configured term are ignored (`"Acme."` is `acme`).
//! Configured terms are folded as text is, so a term in another script or
//! with accents matches itself; a term with letters whose two cases look
//! like different Latin letters is compiled in each casing ([`spellings`]).
//! Each spelling is also compiled reversed, for text inside explicit RTL
//! overrides.
//!
//! How terms are matched in a stream is described in `keyword_scan`.

mod matcher;

use std::sync::Arc;

use crate::guardrails::error::GuardrailError;
use crate::guardrails::pipeline::{Build, PipelineError, Registered};
use crate::guardrails::scan::engine::{Scanner, Tally, Treatment};
use crate::guardrails::scan::fold::{Fold, fold_str};
use crate::guardrails::scan::hooks::{ScanGuard, scan_hooks};
use crate::guardrails::scan::look_alike::single;
use crate::guardrails::{Guardrail, STAGES_ALL};
use crate::hooks::Stage;
use matcher::{KeywordCursor, KeywordDetector};

/// What [`Keywords`] does with a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KeywordAction {
    /// Stop the call with a tripwire (the default). It counts the matches;
    /// it never names the keyword.
    #[default]
    Block,
    /// Replace each match with `<KEYWORD>` (`<COMPETITOR>` for the
    /// competitor preset) and go on.
    Mask,
}

/// Blocks or masks configured terms in input, output and streamed output.
///
/// Terms match case-insensitively on word boundaries, as a reader sees
/// them:
///
/// - compatibility forms read as their plain letters (fullwidth `Ａｃｍｅ`,
///   mathematical `𝐚𝐜𝐦𝐞`, circled, superscript letters, ligatures);
/// - characters of other scripts that look like ASCII read as that ASCII
///   (Unicode's confusables, UTS #39): `Асme` and `ΑСΜΕ` (Cyrillic and
///   Greek letters) are `acme`, in any case and mix of scripts, and so is a
///   word written wholly in look-alikes (`АСМЕ`), so a word of Cyrillic or
///   Greek prose that looks exactly like a configured term matches it;
/// - the accents of Latin, Greek and Cyrillic letters are ignored (`ácmé`,
///   `ac\u{301}me`, stacked marks): `cafe` matches `café` (and `ano`
///   matches `año`). Marks of other scripts (kana voicing, Indic vowel
///   signs, Hebrew and Arabic points) count;
/// - invisible characters (zero-width spaces and joiners, BOM, soft
///   hyphens, bidi controls) are ignored, and text inside an explicit
///   right-to-left override (U+202E, up to its U+202C, the end of the line
///   or of the text) is read as displayed, right to left, too:
///   `\u{202E}emca\u{202C}` is `acme`.
///
/// ASCII is read as written: `rn` is not `m`, `0` is not `O` and `1` is not
/// `l` (folding those would find terms in ordinary words: `modern`).
/// Implicit right-to-left reordering (Hebrew or Arabic letters standing in
/// for Latin ones) is not modelled, nor are look-alikes between two
/// non-Latin scripts.
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
        let mut count = 0;
        let mut folded = Vec::new();
        for term in terms {
            let trimmed = term.as_ref().trim().trim_end_matches(TRAILING).trim();
            let id = count;
            for f in spellings(trimmed) {
                let f = f.trim_end_matches(TRAILING).trim();
                if !f.is_empty() {
                    folded.push((f.to_owned(), id));
                }
            }
            if folded.last().is_some_and(|f| f.1 == id) {
                count += 1;
            }
        }
        if folded.is_empty() {
            return Err(GuardrailError::NoTerms { guardrail: name });
        }
        let det = KeywordDetector::new(folded, count, label, name)?;
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
    pub fn check(&self, text: &str) -> crate::guardrails::Check {
        crate::guardrails::Check::run(&self.scanner, text)
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
    fn scanner(&self) -> &Scanner<KeywordDetector> {
        &self.scanner
    }
    fn reason(&self, tally: &Tally) -> String {
        // Counts only: the terms are configuration an end user must not
        // learn from an error message.
        match (self.competitors, tally.total) {
            (true, 1) => "a competitor is mentioned".to_owned(),
            (true, n) => format!("competitors are mentioned ({n} matches)"),
            (false, 1) => "a blocked keyword matched".to_owned(),
            (false, n) => format!("blocked keywords matched ({n} matches)"),
        }
    }
}

scan_hooks!(Keywords, KeywordsState, KeywordCursor);

/// Trailing characters ignored in a configured term.
const TRAILING: &[char] = &['.', ',', '!', '?', ';', ':'];

/// At most this many spellings of one term are compiled from its letters'
/// cases (beyond it, the term as written, all in lower and all in upper
/// case).
const MAX_SPELLINGS: usize = 64;

/// The folded spellings of `term` that text may show, in any case.
///
/// The fold is case-insensitive except for the few letters whose two cases
/// look like two different ASCII letters (Greek `Η`/`η`, `Ν`/`ν`, `Υ`/`υ`,
/// Cyrillic `Б`/`б`, ...: see `look_alike`): a term with such letters is
/// compiled once for each way its text could be cased, up to
/// [`MAX_SPELLINGS`]. Any other term has one spelling.
fn spellings(term: &str) -> Vec<String> {
    let fold = |c: char| fold_str(c.encode_utf8(&mut [0; 4]), Fold::Visual);
    let mut out = vec![String::new()];
    let mut cased = [String::new(), String::new()];
    for c in term.chars() {
        let written = fold(c);
        let lower = single(c.to_lowercase()).map_or_else(|| written.clone(), fold);
        let upper = single(c.to_uppercase()).map_or_else(|| written.clone(), fold);
        cased[0].push_str(&lower);
        cased[1].push_str(&upper);
        let mut alts = vec![written];
        for a in [lower, upper] {
            if !alts.contains(&a) {
                alts.push(a);
            }
        }
        if out.len() * alts.len() > MAX_SPELLINGS {
            alts.truncate(1);
        }
        out = out
            .iter()
            .flat_map(|s| alts.iter().map(move |a| format!("{s}{a}")))
            .collect();
    }
    out.extend(cased);
    out.sort_unstable();
    out.dedup();
    out
}

/// `config` of "Keyword Filter" in a pipeline bundle.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeywordConfig {
    keywords: Option<Vec<String>>,
}

impl Registered for KeywordConfig {
    const NAME: &'static str = "Keyword Filter";
    type Guard = Keywords;

    fn build(self, cx: &Build<'_>) -> Result<Keywords, PipelineError> {
        let words = cx.required(self.keywords, "keywords")?;
        let built = Keywords::new(&words).map_err(|e| cx.bad("keywords", e))?;
        Ok(built.action(KeywordAction::Block))
    }
}

/// `config` of "Competitors" in a pipeline bundle: that of "Keyword Filter".
#[derive(Debug, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct CompetitorsConfig(KeywordConfig);

impl Registered for CompetitorsConfig {
    const NAME: &'static str = "Competitors";
    type Guard = Keywords;

    fn build(self, cx: &Build<'_>) -> Result<Keywords, PipelineError> {
        let words = cx.required(self.0.keywords, "keywords")?;
        let built = Keywords::competitors(&words).map_err(|e| cx.bad("keywords", e))?;
        Ok(built.action(KeywordAction::Block))
    }
}
