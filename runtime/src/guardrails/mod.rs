//! Built-in guardrails: hooks that check text before it leaves and before
//! the caller sees it.
//!
//! | guardrail | finds | can |
//! |---|---|---|
//! | [`Pii`] | e-mail, phone, credit card (Luhn), IBAN (mod 97), US SSN, IPv4/IPv6, your patterns | mask, redact, hash, block |
//! | [`Keywords`] | configured terms; [`Keywords::competitors`] | block, mask |
//! | [`SecretKeys`] | API keys by prefix, high-entropy tokens, your patterns | block, mask |
//! | [`UrlFilter`] | URLs outside an allow-list of domains, IPs and CIDR ranges | block, mask |
//! | [`InputBudget`] | requests over a character, token or message budget | block |
//! | [`JsonSchemaOutput`] | replies that are not JSON valid against a schema | block |
//!
//! Every text guardrail is a [`PreRequest`](crate::PreRequest) hook (system,
//! developer and user messages), a [`PostResponse`](crate::PostResponse)
//! hook and an [`OnChunk`](crate::OnChunk) hook. [`InputBudget`] is
//! pre-request only.
//!
//! # Layers
//!
//! The module is built in layers; each uses only those below it.
//!
//! - **Guardrails**, one module each, with what only it needs:
//!   `keywords/` (its term matcher and start filter), `pii/` (its patterns
//!   and the DFA detector), `secret_keys`, `url_filter/` (finding URL
//!   candidates, the allow-list, the verdict on a URL), `input_budget`,
//!   `json_schema/`, and `remote/`, the checks that ask a model
//!   ([`Moderation`], [`LlmJudge`]). All are re-exported here.
//! - **[`pipeline`]**: guardrails configured from JSON, run in stages around
//!   a client; each guardrail it knows is one entry of its registry.
//! - **The scan engine** (`scan/`): how text is read (`bidi`, `look_alike`,
//!   `fold`: folded text with a map back to the original), the detector
//!   interface and the scanner that applies one to a whole text or to a
//!   stream of pieces (`engine`), detectors over token runs (`runs`), which
//!   fields of a request, reply or chunk are text (`channels`), and the
//!   hook adapters that make a detector a pre-request, post-response and
//!   chunk hook with per-stream state (`hooks`).
//! - **Support**: `result` ([`GuardrailResult`], [`GuardrailResults`]) and
//!   `error` ([`GuardrailError`], [`CheckError`]).
//!
//! # What a reply's text is
//!
//! Every guardrail that looks at a reply (the text guardrails, whole or
//! streamed, and the model-backed checks of a pipeline) looks at the same
//! channels, for every choice:
//!
//! | channel | streamed | whole reply |
//! |---|---|---|
//! | `content`, `refusal`, `reasoning_content`, `reasoning` | one stream per choice | scanned |
//! | `tool_calls[].function.arguments` | one stream per call `index`, as JSON | scanned as JSON |
//! | `function_call.arguments` (legacy) | one stream per choice, as JSON | scanned as JSON |
//! | `audio.transcript` | one stream per choice | scanned |
//! | tool and function names, the role, a finish reason this crate does not know | each value in its chunk, read joined to earlier values at the same place | scanned |
//! | strings in fields the types do not name (`annotations[].url_citation.url` and `.title`, provider extras on the message, delta or choice) | each value in its chunk, read joined to earlier values at the same place | scanned |
//! | `logprobs` | removed | removed |
//!
//! Not text: ids, `type` tags, `audio.data`, base64 `data:` URLs in unknown
//! fields (images some providers add), numbers and booleans, and the
//! fields of a chunk or reply outside its choices (usage, fingerprints,
//! provider metadata). Strings in unknown fields can be left out with
//! `scan_unknown_fields(false)` on each guardrail; the named channels
//! cannot. `logprobs` spell the text token by token (and their alternatives
//! spell text never sent), so masking the text would leave what was masked
//! in them: a text guardrail removes them from every choice it sees.
//!
//! Arguments are JSON: inside strings, escapes are matched as the
//! characters they stand for (`\u0061cme` is `acme`, `https:\/\/` is
//! `https://`), and a match is replaced only when it lies inside one
//! string, so masked arguments stay valid JSON; a match elsewhere (a bare
//! number, across strings) blocks.
//!
//! # Streaming
//!
//! As a chunk hook a guardrail sees each chunk before the caller does and
//! never lets a match through, however the text is split: it emits at once
//! everything that can no longer be part of a match and holds back only the
//! rest (the few bytes that could still begin one), releasing it with the
//! next chunk, with the chunk that carries the choice's `finish_reason`, or
//! from [`OnChunk::on_end`](crate::OnChunk::on_end) when the stream ends
//! early. Scanning state carries over from chunk to chunk, so each byte is
//! looked at a bounded number of times and accumulated text is never
//! rescanned: keywords walk an anchored Aho-Corasick DFA from each word start
//! (walks alive at a chunk's end continue in the next), PII steps a regex DFA
//! (`regex-automata`) byte by byte and finds a match's start with its reverse
//! DFA, secrets and URLs classify bytes into token runs 64 at a time and
//! judge each run once (a URL token longer than its cap in pieces, whose
//! ends may be looked at again with the next piece). Clean text passes
//! through unchanged and in order, and masking a stream gives exactly the
//! text that masking it whole gives.
//! Each choice (`n > 1`) and each streamed channel of it (above) is its own
//! stream.
//!
//! A choice's held text is released in the chunk that carries its finish
//! reason. Text that still comes for the choice after that goes on from
//! where it ended: the held tail is scanned again in front of it (and never
//! sent twice), so a match split across the finish is found, and, as part
//! of it was already sent, blocks whatever the action. A stream that ends
//! with no finish reason (`ClientError::Truncated`) has what each hook
//! holds judged as the end of its text and released, masked where a mask
//! applies; a blocking match trips, is recorded in [`GuardrailResults`] and
//! is not sent; the stream then ends with `Truncated` either way. After any
//! other upstream error (a connection cut mid-body, an error event) held
//! text is not released: it was never checked to its end.
//!
//! How much is held back at most: keywords, the longest term (folded; in
//! an RTL override the same, read backwards); PII, the
//! current candidate (a word, a number) and never more than
//! [`PII_HOLD_CAP`](crate::limits::PII_HOLD_CAP) bytes; secrets, the current token, at most
//! [`SECRET_TOKEN_CAP`](crate::limits::SECRET_TOKEN_CAP) bytes; URLs, the current token, at most
//! [`URL_TOKEN_CAP`](crate::limits::URL_TOKEN_CAP) bytes. A match longer than its cap is not guaranteed to
//! be found whole. Caps count folded bytes (below); a character that folds
//! to something takes at most four original bytes per byte of its fold, so
//! a field holds at most four times its cap in original bytes, plus at most
//! [`IGNORABLE_HOLD_CAP`](crate::limits::IGNORABLE_HOLD_CAP) bytes of characters that fold to nothing (for
//! keywords this includes the combining accents they ignore). A
//! state's `held_bytes` (e.g. [`KeywordsState::held_bytes`]) tells how much
//! it holds now.
//!
//! Matching runs on folded text: each non-ASCII character is replaced by its
//! compatibility decomposition (NFKD, per character, from
//! `unicode-normalization`), so fullwidth and other compatibility forms
//! read as their plain letters and a precomposed `é` matches `e` + U+0301;
//! default-ignorable code points (zero-width space and joiners, BOM, soft
//! hyphen, bidi controls, variation selectors, tags) fold to nothing, so
//! they cannot split a term. Keywords go further and match what a reader
//! sees: characters that look like ASCII (UTS #39 confusables, from
//! `unicode-security`: Cyrillic `а`, Greek `Α`...) read as that ASCII, the
//! combining accents of Latin, Greek and Cyrillic fold to nothing, other
//! letters are lowercased, and text inside an explicit right-to-left
//! override is also read right to left, as it is displayed (see
//! [`Keywords`]). ASCII is never folded into other ASCII. What is emitted
//! is the original text, but for the one exception below, and a mask keeps
//! the bidi controls of the text it replaces (after the placeholder), so an
//! override is never left open by a mask.
//!
//! Characters that fold to nothing take no room in folded text, so caps do
//! not bound them: zero-width spaces streamed after `ac` (which could still
//! become `acme`) would be held without end. When a field holds more than
//! [`IGNORABLE_HOLD_CAP`](crate::limits::IGNORABLE_HOLD_CAP) bytes of them, those before everything it holds
//! are released (no candidate has begun there: they hold nothing a match
//! needs), and of those inside the held text (after the first character of
//! a candidate) the first [`IGNORABLE_HOLD_CAP`](crate::limits::IGNORABLE_HOLD_CAP) bytes are kept and the rest
//! are dropped from the output. Neither changes the folded text, so every
//! finding, mask and tripwire is the one the whole text gives: the keyword
//! `secret` written `se\u{200B}…\u{200B}cret`, with any number of zero-width
//! spaces, is still found, and nothing that matches reaches the caller. The
//! cost falls only on streams that hold that many invisible characters at
//! once: the caller gets the text less some of them (so a blocking
//! guardrail's stream may differ from its input by those), and ignorables
//! next to a mask may come out beside it instead of under it. The
//! alternatives are worse: tripping would stop replies that the whole-text
//! check passes, and releasing the candidate would let its completion
//! through.
//!
//! Throughput is in `docs/BENCHMARKS.md` ("Guardrail scanning").
//!
//! # Results
//!
//! Every check records a [`GuardrailResult`] in the call's
//! [`GuardrailResults`] (a handle in the [`HookContext`](crate::HookContext)
//! extensions); a tripwire's `info` carries the same structured details.
//! Neither, nor a tripwire's `reason` (part of its `Display`), ever
//! contains what was matched or what the guardrail was configured with: a
//! keyword, a competitor, an allow-list entry, a host, a PII value or a
//! secret. They hold counts, entity types (`KEYWORD`, `EMAIL_ADDRESS`,
//! `host_not_allowed`, ...), scores and limits. An end user is shown the
//! error's [`public_message`](crate::ClientError::public_message).

mod error;
mod input_budget;
mod json_schema;
mod keywords;
mod pii;
pub mod pipeline;
mod remote;
mod result;
pub(crate) mod scan;
mod secret_keys;
mod url_filter;
#[cfg(test)]
mod walk_tests;

pub use error::{CheckError, GuardrailError};
pub use input_budget::InputBudget;
pub use json_schema::{JsonSchemaOutput, JsonSchemaState};
pub use keywords::{KeywordAction, Keywords, KeywordsState};
pub use pii::{Pii, PiiAction, PiiBuilder, PiiEntity, PiiState};
pub use remote::judge::{
    DEFAULT_JUDGE_THRESHOLD, DEFAULT_JUDGE_TURNS, LlmJudge, References, Verdict,
};
pub use remote::moderation::{
    DEFAULT_MODERATION_MODEL, MODERATION_CATEGORIES, Moderation, ModerationClient,
    ModerationResponse, ModerationResult, ModerationVerdict,
};
pub use result::{GuardrailResult, GuardrailResults};
pub use scan::hooks::{EventScanState, ScanState};
pub use secret_keys::{SecretAction, SecretKeys, SecretKeysState, SecretPreset};
pub use url_filter::{URL_LOOKAHEAD, UrlAction, UrlFilter, UrlFilterState};

use serde_json::Value;

use crate::hooks::Stage;
use scan::engine::{Detector, Scanner, Tally};

/// What every built-in guardrail has in common, for code that handles them
/// by name (results, a pipeline configuration).
pub trait Guardrail: Send + Sync {
    /// The guardrail's stable name (`pii`, `keywords`, `competitors`,
    /// `secret_keys`, `url_filter`, `input_budget`), as it appears in
    /// results and tripwires.
    fn name(&self) -> &'static str;

    /// The stages it can run at.
    fn stages(&self) -> &'static [Stage];
}

/// Stages of a text guardrail.
const STAGES_ALL: &[Stage] = &[Stage::PreRequest, Stage::PostResponse, Stage::Chunk];

/// The outcome of checking one text with [`Pii::check`], [`Keywords::check`],
/// [`SecretKeys::check`] or [`UrlFilter::check`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Check {
    /// Whether the guardrail would stop the call.
    pub tripped: bool,
    /// The rewritten text, when something was masked, redacted or hashed.
    pub text: Option<String>,
    /// What was found (counts by entity type; never a matched value or a
    /// configured term).
    pub info: Value,
}

impl Check {
    fn run<D: Detector>(sc: &Scanner<D>, text: &str) -> Self {
        let mut tally = Tally::default();
        let (tripped, text) = match sc.apply(text, &mut tally) {
            Ok(text) => (false, text),
            Err(_) => (true, None),
        };
        Self {
            tripped,
            text,
            info: tally.info(sc.treat),
        }
    }
}
