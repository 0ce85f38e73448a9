//! `SecretKeys`: API keys, tokens and other credentials.
//!
//! A candidate is a run of key characters (ASCII letters, digits and
//! `-_./+~!#$%&*?@^`; quotes, brackets, `=`, `:`, `,` and whitespace end it,
//! so `KEY="sk-…"` yields the key alone), with `.,!?*#` trimmed from both
//! ends. It is a secret when:
//! 1. one of your patterns matches at its start; or
//! 2. it starts with a known key prefix (`sk-`, `sk-proj-`, `sk-ant-`,
//!    `gsk_`, `xai-`, `ghp_`, `github_pat_`, `AKIA`, `AIza`, `xoxb-`, …) and
//!    the rest is long enough for that kind of key and mixes character
//!    classes; or
//! 3. it is at least `min_length` long, mixes at least `min_diversity` of
//!    lower case, upper case, digits and symbols, and its Shannon entropy is
//!    at least `min_entropy` bits per character, unless (outside the strict
//!    preset) it looks like a file name, a URL path or an e-mail address.
//!
//! The presets use openai-guardrails' thresholds. Unlike that check, results
//! and tripwires never contain the secret: only counts by kind.

use std::sync::Arc;

use regex_automata::{Anchored, Input, meta};

use crate::guardrails::error::GuardrailError;
use crate::guardrails::pipeline::{Build, PipelineError, Registered};
use crate::guardrails::scan::engine::{Finding, Scanner, Tally, Treatment};
use crate::guardrails::scan::hooks::{ScanGuard, scan_hooks};
use crate::guardrails::scan::runs::{RunCursor, RunDetector, RunRule, table};
use crate::guardrails::{Check, Guardrail, STAGES_ALL};
use crate::hooks::Stage;
use crate::limits::SECRET_TOKEN_CAP;

/// Sensitivity of the entropy rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SecretPreset {
    /// Min length 10, entropy 3.5, 2 character classes; file names, paths
    /// and e-mail addresses are not excused. Most findings, most false
    /// positives.
    Strict,
    /// Min length 15, entropy 3.8, 3 character classes (the default).
    #[default]
    Balanced,
    /// Min length 20, entropy 4.0, 3 character classes.
    Permissive,
}

/// What [`SecretKeys`] does with a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SecretAction {
    /// Stop the call with a tripwire (the default).
    #[default]
    Block,
    /// Replace each secret with `<SECRET>` and go on.
    Mask,
}

/// Known key prefixes and the least number of characters after each.
/// Longer prefixes first: the first that matches decides.
const PREFIXES: &[(&str, usize)] = &[
    ("github_pat_", 40),
    ("sk-proj-", 20),
    ("sk-ant-", 20),
    ("sk_live_", 16),
    ("sk_test_", 16),
    ("rk_live_", 16),
    ("dop_v1_", 40),
    ("sq0atp-", 20),
    ("shpat_", 20),
    ("glpat-", 20),
    ("xoxb-", 10),
    ("xoxp-", 10),
    ("xoxa-", 10),
    ("xoxr-", 10),
    ("xoxs-", 10),
    ("pypi-", 50),
    ("gsk_", 20),
    ("xai-", 20),
    ("ghp_", 30),
    ("gho_", 30),
    ("ghu_", 30),
    ("ghs_", 30),
    ("ghr_", 30),
    ("npm_", 30),
    ("AKIA", 16),
    ("ASIA", 16),
    ("AIza", 30),
    ("sk-", 20),
    ("hf_", 30),
    ("SG.", 30),
];

/// File extensions that excuse a high-entropy token outside strict mode.
const FILE_EXTENSIONS: &[&str] = &[
    ".py", ".js", ".ts", ".jsx", ".tsx", ".rs", ".go", ".rb", ".php", ".java", ".c", ".h", ".cpp",
    ".cs", ".sh", ".md", ".txt", ".csv", ".json", ".xml", ".yaml", ".yml", ".toml", ".ini",
    ".conf", ".config", ".log", ".sql", ".html", ".css", ".vue", ".pdf", ".png", ".jpg", ".jpeg",
    ".gif", ".svg", ".doc", ".docx", ".xls", ".xlsx", ".zip", ".gz", ".tar", ".so", ".dll", ".jar",
];

/// Kinds of finding.
const KIND_PREFIX: u32 = 0;
const KIND_ENTROPY: u32 = 1;
/// Custom pattern `i` is kind `KIND_CUSTOM + i`.
const KIND_CUSTOM: u32 = 2;

/// The thresholds and patterns of a [`SecretKeys`].
#[derive(Debug, Clone)]
pub(crate) struct SecretRule {
    table: [bool; 256],
    min_length: usize,
    min_entropy: f64,
    min_diversity: usize,
    strict: bool,
    custom: Vec<(String, meta::Regex)>,
}

impl SecretRule {
    fn new(preset: SecretPreset) -> Self {
        let (min_length, min_entropy, min_diversity, strict) = match preset {
            SecretPreset::Strict => (10, 3.5, 2, true),
            SecretPreset::Balanced => (15, 3.8, 3, false),
            SecretPreset::Permissive => (20, 4.0, 3, false),
        };
        Self {
            table: table(|b| b.is_ascii_alphanumeric() || b"-_./+~!#$%&*?@^".contains(&b)),
            min_length,
            min_entropy,
            min_diversity,
            strict,
            custom: Vec::new(),
        }
    }

    fn kind(&self, c: &[u8]) -> Option<u32> {
        for (i, (_, re)) in self.custom.iter().enumerate() {
            if re.is_match(Input::new(c).anchored(Anchored::Yes)) {
                return Some(KIND_CUSTOM + i as u32);
            }
        }
        let need = if self.strict { 1 } else { 2 };
        if let Some((p, min_body)) = PREFIXES.iter().find(|(p, _)| c.starts_with(p.as_bytes())) {
            let body = &c[p.len()..];
            if body.len() >= *min_body && diversity(body) >= need {
                return Some(KIND_PREFIX);
            }
        }
        if c.len() < self.min_length || diversity(c) < self.min_diversity {
            return None;
        }
        if !self.strict && excused(c) {
            return None;
        }
        (entropy(c) >= self.min_entropy).then_some(KIND_ENTROPY)
    }
}

/// How many of lower case, upper case, digits and symbols `s` mixes.
fn diversity(s: &[u8]) -> usize {
    let mut classes = [false; 4];
    for &b in s {
        let i = match b {
            b'a'..=b'z' => 0,
            b'A'..=b'Z' => 1,
            b'0'..=b'9' => 2,
            _ => 3,
        };
        classes[i] = true;
    }
    classes.iter().filter(|&&c| c).count()
}

/// Shannon entropy of `s`, in bits per byte.
fn entropy(s: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &b in s {
        counts[usize::from(b)] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// File names, URL paths (`//host/…`) and e-mail addresses.
fn excused(c: &[u8]) -> bool {
    let lower = c.to_ascii_lowercase();
    c.starts_with(b"//")
        || (c.contains(&b'@') && c.contains(&b'.'))
        || FILE_EXTENSIONS
            .iter()
            .any(|e| lower.ends_with(e.as_bytes()))
}

impl RunRule for SecretRule {
    type Carry = ();

    fn table(&self) -> &[bool; 256] {
        &self.table
    }

    fn cap(&self) -> usize {
        SECRET_TOKEN_CAP
    }

    fn min_len(&self) -> usize {
        // Shorter tokens are secrets only by a custom pattern.
        match self.custom.is_empty() {
            true => PREFIXES
                .iter()
                .map(|(p, body)| p.len() + body)
                .fold(self.min_length, usize::min),
            false => 1,
        }
    }

    fn judge(&self, run: &[u8], start: usize, out: &mut Vec<Finding>) {
        const EDGES: &[u8] = b".,!?*#";
        let a = run
            .iter()
            .position(|b| !EDGES.contains(b))
            .unwrap_or(run.len());
        let b = run
            .iter()
            .rposition(|b| !EDGES.contains(b))
            .map_or(a, |i| i + 1);
        let c = &run[a..b];
        if c.len() < 8 {
            return;
        }
        if let Some(kind) = self.kind(c) {
            out.push(Finding {
                start: start + a,
                end: start + b,
                kind,
            });
        }
    }

    fn entity(&self, kind: u32) -> &str {
        match kind {
            KIND_PREFIX => "SECRET_KEY",
            KIND_ENTROPY => "HIGH_ENTROPY_TOKEN",
            k => self
                .custom
                .get((k - KIND_CUSTOM) as usize)
                .map_or("SECRET", |(name, _)| name),
        }
    }

    fn label(&self, _kind: u32) -> &str {
        "SECRET"
    }
}

/// Finds API keys, tokens and other credentials in input, output and
/// streamed output.
///
/// ```
/// use openai_hooks::guardrails::{SecretAction, SecretKeys};
///
/// let secrets = SecretKeys::new().action(SecretAction::Mask);
/// let checked = secrets.check("use OPENAI_API_KEY=\"sk-proj-4fT9qLm2Xv8RkP0sWz7YbN3c\" here");
/// assert_eq!(checked.text.as_deref(), Some("use OPENAI_API_KEY=\"<SECRET>\" here"));
/// assert!(SecretKeys::new().check("ghp_abcdefghijklmnopqrstuvwxyz0123456789").tripped);
/// ```
#[derive(Debug, Clone)]
pub struct SecretKeys {
    scanner: Scanner<RunDetector<SecretRule>>,
}

impl Default for SecretKeys {
    fn default() -> Self {
        Self::new()
    }
}

impl SecretKeys {
    /// The balanced preset; blocks.
    pub fn new() -> Self {
        Self::preset(SecretPreset::Balanced)
    }

    /// A preset; blocks.
    pub fn preset(preset: SecretPreset) -> Self {
        let rule = RunDetector(SecretRule::new(preset));
        Self {
            scanner: Scanner::new(Arc::new(rule), Treatment::Block),
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

    /// Sets what a finding does.
    pub fn action(mut self, action: SecretAction) -> Self {
        self.scanner.treat = match action {
            SecretAction::Block => Treatment::Block,
            SecretAction::Mask => Treatment::Mask,
        };
        self
    }

    /// Adds a pattern, reported as `name`, that makes a token a secret when
    /// it matches at the token's start (like openai-guardrails'
    /// `custom_regex`).
    pub fn pattern(mut self, name: impl Into<String>, regex: &str) -> Result<Self, GuardrailError> {
        let name = name.into();
        let re = meta::Regex::new(regex).map_err(|e| GuardrailError::Pattern {
            guardrail: "secret_keys",
            name: name.clone(),
            source: Box::new(e),
        })?;
        Arc::make_mut(&mut self.scanner.det)
            .0
            .custom
            .push((name, re));
        Ok(self)
    }

    /// Checks one text, as a pre-request or post-response hook would.
    pub fn check(&self, text: &str) -> Check {
        Check::run(&self.scanner, text)
    }
}

impl Guardrail for SecretKeys {
    fn name(&self) -> &'static str {
        "secret_keys"
    }
    fn stages(&self) -> &'static [Stage] {
        STAGES_ALL
    }
}

impl ScanGuard for SecretKeys {
    type Det = RunDetector<SecretRule>;
    fn scanner(&self) -> &Scanner<RunDetector<SecretRule>> {
        &self.scanner
    }
    fn reason(&self, tally: &Tally) -> String {
        format!("secret detected: {}", tally.names())
    }
}

scan_hooks!(SecretKeys, SecretKeysState, RunCursor);

/// `config` of "Secret Keys" in a pipeline bundle.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecretConfig {
    threshold: Option<String>,
    custom_regex: Option<Vec<String>>,
}

impl Registered for SecretConfig {
    const NAME: &'static str = "Secret Keys";
    type Guard = SecretKeys;

    fn build(self, cx: &Build<'_>) -> Result<SecretKeys, PipelineError> {
        let preset = match self.threshold.as_deref() {
            None | Some("balanced") => SecretPreset::Balanced,
            Some("strict") => SecretPreset::Strict,
            Some("permissive") => SecretPreset::Permissive,
            Some(other) => {
                return Err(cx.bad(
                    "threshold",
                    format!("`{other}` is not strict, balanced or permissive"),
                ));
            }
        };
        let mut secrets = SecretKeys::preset(preset);
        for (i, re) in self.custom_regex.unwrap_or_default().iter().enumerate() {
            secrets = secrets
                .pattern(format!("custom_regex[{i}]"), re)
                .map_err(|e| cx.bad(&format!("custom_regex[{i}]"), e))?;
        }
        Ok(secrets)
    }
}
