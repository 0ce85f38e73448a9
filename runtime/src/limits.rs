//! What a reply may make the client hold, in one table.
//!
//! A server can send anything: a gateway with a bug, a proxy in between, a
//! compromised endpoint. Each structure that grows with what the server
//! sends has a limit; past it the call ends with
//! [`ClientError::LimitExceeded`](crate::ClientError::LimitExceeded) naming
//! the limit (or, inside a guardrail, a fail-closed tripwire), never with
//! more memory.
//!
//! | limit | default | where | past it |
//! |---|---|---|---|
//! | [`MAX_CHOICES`] | 128 | distinct choice `index` values in one stream | `LimitExceeded { what: "choices per stream" }` |
//! | [`MAX_TOOL_CALLS`] | 128 | tool calls in one choice: distinct tool-call `index` values (and, where a server numbers every call 0, distinct ids at one index) | `LimitExceeded { what: "tool calls per choice" }` |
//! | [`MAX_TEXT_CHANNELS`] | 256 | texts (an output item's part, a call's arguments) one scanning guardrail follows in a Responses stream | the guardrail trips (fail closed), `info["limit"]` names it |
//! | [`MAX_TOOL_ARGUMENT_BYTES`] | 1 MiB | one tool call's argument text, gathered from fragments | `LimitExceeded { what: "tool-argument bytes per call" }` |
//! | [`MAX_GATHERED_BYTES`] | 8 MiB | a stream's reply kept whole for checks that judge it at the end: its strings, plus each chunk held after a finish reason (its strings and its size) | `LimitExceeded { what: "reply bytes kept for whole-reply checks" }` |
//! | [`MAX_HELD_BYTES`] | 1 MiB | text one scanning guardrail holds back at once in a stream, over every choice and field | the guardrail trips (fail closed), `info["limit"]` = `{"what": "held-back bytes per stream", "limit": …}` |
//! | [`DEFAULT_MAX_EVENT_BYTES`] | 4 MiB | one server-sent event, through [`Transport`](crate::transport::Transport) | `LimitExceeded { what: "bytes per event" }` |
//! | [`DEFAULT_MAX_BODY_BYTES`] | 64 MiB | a reply body, streamed or not, through `Transport` | `LimitExceeded { what: "reply body bytes" }` (a stream ends at an event boundary) |
//! | [`ERROR_BODY_BYTES`] | 64 KiB | an error response's body, through `Transport` | the rest is not read; the error keeps what was |
//! | [`DEFAULT_ERROR_BODY_TIME`] | 10 s | reading an error response's body, through `Transport` | the error keeps what arrived in time |
//! | [`PII_HOLD_CAP`] | 512 | folded bytes a [`Pii`](crate::guardrails::Pii) chunk hook holds back in one field | the candidate is given up (no e-mail is longer than 254) |
//! | [`SECRET_TOKEN_CAP`] | 1 KiB | the longest token [`SecretKeys`](crate::guardrails::SecretKeys) judges in one piece | longer runs are judged in pieces |
//! | [`URL_TOKEN_CAP`] | 2 KiB | the longest token [`UrlFilter`](crate::guardrails::UrlFilter) judges in one piece | longer tokens are judged in overlapping pieces (the `url_filter` docs say how) |
//! | [`IGNORABLE_HOLD_CAP`] | 256 | bytes of characters that fold to nothing (zero-width, bidi controls) held in one field, beyond the caps above | the excess is dropped from the output, never the folded text |
//!
//! Where each is enforced:
//!
//! - [`checked`](crate::client::checked), around every stream: [`MAX_CHOICES`];
//! - a scanning guardrail as a chunk hook ([`Keywords`](crate::guardrails::Keywords),
//!   [`Pii`](crate::guardrails::Pii), [`SecretKeys`](crate::guardrails::SecretKeys),
//!   [`UrlFilter`](crate::guardrails::UrlFilter)): [`MAX_CHOICES`],
//!   [`MAX_TOOL_CALLS`] and [`MAX_HELD_BYTES`], each as a tripwire whose
//!   `info["limit"]` names the limit (`{"what", "limit"}`) and the chunk
//!   that went past it not delivered;
//! - a pipeline's stream with output checks that judge the whole reply:
//!   [`MAX_CHOICES`], [`MAX_TOOL_CALLS`] and [`MAX_GATHERED_BYTES`];
//! - [`EventConverter`](crate::model::parts::EventConverter), which reads choice
//!   0 only: [`MAX_TOOL_CALLS`] and [`MAX_TOOL_ARGUMENT_BYTES`], as
//!   [`ModelError::Client`](crate::model::ModelError::Client);
//! - a scanning guardrail, in each field it holds text back from:
//!   [`PII_HOLD_CAP`], [`SECRET_TOKEN_CAP`], [`URL_TOKEN_CAP`] and
//!   [`IGNORABLE_HOLD_CAP`];
//! - [`Transport`](crate::transport::Transport), on every response:
//!   [`DEFAULT_MAX_EVENT_BYTES`], [`DEFAULT_MAX_BODY_BYTES`],
//!   [`ERROR_BODY_BYTES`] and [`DEFAULT_ERROR_BODY_TIME`] (the defaults of
//!   its `max_event_bytes`, `max_body_bytes` and `error_body_time`).
//!
//! The transport limits apply to clients built with
//! [`Transport`](crate::transport::Transport) (as
//! [`ClientArgs`](crate::model::ClientArgs) builds them); async-openai's own
//! HTTP client reads bodies and events without a cap, so a service that
//! talks to servers it does not control should use `Transport`.
//!
//! A stream through a `Transport` is read by its caller as it polls: the
//! server waits on the caller, and nothing piles up between them. Without
//! one, async-openai reads a stream on a task of its own and hands decoded
//! chunks over through an unbounded channel, which fills while the caller
//! is slower than the server, with no limit.

/// Distinct choice indices in one stream. OpenAI accepts `n` up to 128.
pub const MAX_CHOICES: usize = 128;

/// Distinct tool-call indices in one choice.
pub const MAX_TOOL_CALLS: usize = 128;

/// Text channels (output item, part, kind) a scanning guardrail follows in
/// one Responses stream.
pub const MAX_TEXT_CHANNELS: usize = 256;

/// Bytes of one tool call's arguments, gathered from a stream.
pub const MAX_TOOL_ARGUMENT_BYTES: usize = 1 << 20;

/// Bytes of a stream's reply kept whole for output checks that judge the
/// complete reply (a remote judge, a moderation call).
pub const MAX_GATHERED_BYTES: usize = 8 << 20;

/// Bytes a stream's scanning guardrails may hold back at once, summed over
/// every choice and field.
pub const MAX_HELD_BYTES: usize = 1 << 20;

/// Default limit on one server-sent event through
/// [`Transport`](crate::transport::Transport).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 4 << 20;

/// Default limit on a reply body, streamed or not, through
/// [`Transport`](crate::transport::Transport).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 << 20;

/// Bytes of an error response's body that
/// [`Transport`](crate::transport::Transport) reads.
pub const ERROR_BODY_BYTES: usize = 64 << 10;

/// Default time [`Transport`](crate::transport::Transport) spends reading
/// an error response's body after its headers.
pub const DEFAULT_ERROR_BODY_TIME: std::time::Duration = std::time::Duration::from_secs(10);

// What a scanning guardrail holds back in one field of one choice, at most.

/// The most a [`Pii`](crate::guardrails::Pii) chunk hook holds back in one
/// field, in folded bytes: a candidate that
/// has not completed within this many bytes is given up. Far above the
/// longest built-in match (an e-mail address is at most 254 bytes).
pub const PII_HOLD_CAP: usize = 512;

/// The longest token [`SecretKeys`](crate::guardrails::SecretKeys) judges
/// in one piece, in bytes (its chunk hook holds back at most this much):
/// longer runs are judged in pieces of this size. Above every key format it
/// knows; long JWTs are judged by piece.
pub const SECRET_TOKEN_CAP: usize = 1024;

/// The longest token [`UrlFilter`](crate::guardrails::UrlFilter) judges in
/// one piece, in bytes (its chunk hook holds back at most this much).
pub const URL_TOKEN_CAP: usize = 2048;

/// The most original bytes of characters that fold to nothing
/// (default-ignorable code points: zero-width spaces and joiners, BOM, soft
/// hyphens, bidi controls, variation selectors, tags; for
/// [`Keywords`](crate::guardrails::Keywords), the combining accents of Latin, Greek
/// and Cyrillic too) that a chunk hook holds back in one stream (one field
/// of one choice), on top of what its cap allows.
///
/// They fold to nothing, so they take no room in the folded text that caps
/// are counted in. When more are held, those before everything held are
/// released (no match can take them from there), and of those inside the
/// held text (after the start of a candidate) bidi overrides closed with
/// nothing shown inside them are dropped first, then the first
/// `IGNORABLE_HOLD_CAP` bytes are kept and the others dropped from the
/// output. Neither changes the folded text, so what is found, masked or
/// blocked is what would be without them.
pub const IGNORABLE_HOLD_CAP: usize = 256;
