//! The scan engine behind the text guardrails ([`Pii`](super::Pii),
//! [`Keywords`](super::Keywords), [`SecretKeys`](super::SecretKeys),
//! [`UrlFilter`](super::UrlFilter)), from the bottom up:
//!
//! - [`bidi`] and [`look_alike`]: how Unicode text is read (bidi overrides,
//!   characters that look like ASCII);
//! - [`fold`]: folded text, with a map back to the original bytes
//!   (and [`fold::JsonLex`], strings inside JSON arguments);
//! - [`engine`]: the [`Detector`](engine::Detector) a guardrail implements,
//!   the [`Scanner`](engine::Scanner) that applies it to a whole text and
//!   the [`FieldStream`](engine::FieldStream) that applies it to a text
//!   arriving in pieces;
//! - [`runs`]: detectors that judge runs of token bytes (secrets, URLs);
//! - [`channels`]: which fields of a request, reply or chunk are text;
//! - [`hooks`]: the hook adapters that turn a detector into pre-request,
//!   post-response and chunk hooks, with their per-stream state.

pub(crate) mod bidi;
pub(crate) mod channels;
pub(crate) mod engine;
pub(crate) mod fold;
pub(crate) mod hooks;
pub(crate) mod look_alike;
pub(crate) mod runs;
