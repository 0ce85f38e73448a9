//! Running a scanner as a hook: over request messages, reply choices and
//! streamed chunks.
//!
//! What is scanned:
//! - pre-request: the text of system, developer and user messages (string
//!   content and text parts); assistant history, tool results and images are
//!   left alone. On a Responses request: `instructions`, system, developer
//!   and user messages, and function and custom tool call outputs;
//! - post-response on a Responses reply: every text of every output item
//!   ([`output_item_texts`]);
//! - post-response and streamed: every channel of every choice that
//!   [`channels`](super::channels) names (content, refusal, reasoning, tool
//!   call and legacy function call arguments and names, audio transcripts,
//!   strings in unknown fields). Streamed channels are each their own stream
//!   with its own held-back text, per choice index (`n > 1`) and, for tool
//!   calls, per call index.
//! - `logprobs` spell the text token by token, so they are removed from
//!   every choice a text guardrail sees: masking the text would leave what
//!   was masked in them.
//!
//! A choice's held-back text is released in the chunk that carries its
//! `finish_reason` (so nothing of it follows its finish). Text that still
//! comes for that choice after its finish goes on from where the text
//! ended: the held tail is scanned again in front of it (never emitted
//! twice), so a match split across the finish is still found, and as part
//! of it was delivered, blocks. Whatever is still held when the upstream
//! ends (a stream cut short, or one that stops with no finish reason) is
//! judged as the end of its text and released by `on_end` as one last
//! chunk.
//!
//! What a stream may make a scanning hook keep is bounded (see
//! [`limits`](crate::limits)): more than [`MAX_CHOICES`] choice indices,
//! more than [`MAX_TOOL_CALLS`] tool-call indices in one choice, or more
//! than [`MAX_HELD_BYTES`] of text held back at once over every choice and
//! field trips the guardrail (fail closed: the chunk that went past the
//! limit is not delivered, nor anything after it), with the limit in the
//! tripwire's `info["limit"]`.

mod events;
mod stream;
pub(crate) use events::EventState;
pub(crate) use stream::StreamState;

use std::collections::HashMap;

use serde_json::Value;

use super::channels::{Channel, chunk_choice_texts, is_binary, reply_choice_texts, slot};
use super::engine::{Blocked, Detector, FieldStream, Scanner, Tail, Tally};
use crate::guardrails::Guardrail;
use crate::guardrails::result::{GuardrailResult, record, record_shared};
use crate::hooks::{ChunkAction, HookContext, HookError, Stage};
use crate::limits::{MAX_CHOICES, MAX_HELD_BYTES, MAX_TOOL_CALLS};
use crate::text::{Author, walk_request_mut, walk_responses_request_mut};
use crate::types::responses::{OutputItem, Response, ResponsesRequest};
use crate::types::{ChatChunk, ChatRequest, ChatResponse, ChunkChoice, Extra};

/// A guardrail built on a [`Scanner`]; its [`Guardrail::name`] names it in
/// results and tripwires.
pub(crate) trait ScanGuard: Guardrail {
    type Det: Detector;
    fn scanner(&self) -> &Scanner<Self::Det>;
    /// Why it tripped, for people; must not quote a matched value.
    fn reason(&self, tally: &Tally) -> String;
}

fn trip<G: ScanGuard>(g: &G, tally: &Tally) -> HookError {
    HookError::tripwire(g.reason(tally)).with_info(info(g, tally))
}

/// Why a streamed chunk stops the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// A finding blocked the text.
    Blocked,
    /// The stream went past a limit on what the hook keeps: fail closed.
    Limit { what: &'static str, limit: usize },
}

impl From<Blocked> for Stop {
    fn from(_: Blocked) -> Self {
        Stop::Blocked
    }
}

/// The `info["limit"]` of a tripwire for a limit.
fn limit_info(what: &'static str, limit: usize) -> serde_json::Value {
    serde_json::json!({"what": what, "limit": limit})
}

/// The tripwire for a stream that went past a limit: the guardrail cannot
/// scan what it would have to keep, so nothing more passes.
fn limit_trip<G: ScanGuard>(g: &G, tally: &Tally, what: &'static str, limit: usize) -> HookError {
    let mut info = info(g, tally);
    info["limit"] = limit_info(what, limit);
    HookError::tripwire(format!(
        "the reply went past a limit the guardrail keeps to: {what} ({limit})"
    ))
    .with_info(info)
}

fn info<G: ScanGuard>(g: &G, tally: &Tally) -> serde_json::Value {
    let mut info = tally.info(g.scanner().treat);
    info["guardrail"] = g.name().into();
    info
}

fn result<G: ScanGuard>(g: &G, stage: Stage, tripped: bool, tally: &Tally) -> GuardrailResult {
    GuardrailResult {
        guardrail: g.name().into(),
        stage,
        tripped,
        info: info(g, tally),
    }
}

/// Scans one text in place.
fn apply_text<G: ScanGuard>(g: &G, text: &mut String, tally: &mut Tally) -> Result<(), Blocked> {
    if let Some(new) = g.scanner().apply(text, tally)? {
        *text = new;
    }
    Ok(())
}

/// Calls `f` on the text of every system, developer and user message (string
/// content and text parts), in order, until it returns an error.
pub(crate) fn for_each_input_text<E>(
    req: &mut ChatRequest,
    mut f: impl FnMut(&mut String) -> Result<(), E>,
) -> Result<(), E> {
    walk_request_mut(req, |piece, t| {
        if piece.author.wrote_input() {
            f(t)
        } else {
            Ok(())
        }
    })
}

/// The pre-request hook of a scanning guardrail on a Responses request:
/// `instructions`, system, developer and user messages, and function and
/// custom tool call outputs.
pub(crate) fn pre_request_responses<G: ScanGuard>(
    g: &G,
    req: &mut ResponsesRequest,
    cx: &mut HookContext,
) -> Result<(), HookError> {
    let mut tally = Tally::default();
    let outcome = walk_responses_request_mut(req, |piece, t| {
        if piece.author.wrote_input() || piece.author == Author::Tool {
            apply_text(g, t, &mut tally)
        } else {
            Ok(())
        }
    });
    finish_whole(g, Stage::PreRequest, outcome, &tally, cx)
}

/// The post-response hook of a scanning guardrail on a Responses reply:
/// every text its output items carry (see [`output_item_texts`]).
pub(crate) fn post_response_responses<G: ScanGuard>(
    g: &G,
    resp: &mut Response,
    cx: &mut HookContext,
) -> Result<(), HookError> {
    let mut tally = Tally::default();
    let scan_unknown = g.scanner().scan_unknown;
    let mut f = |t: &mut String, json: bool| -> Result<(), Blocked> {
        if let Some(new) = g.scanner().apply_as(t, json, &mut tally)? {
            *t = new;
        }
        Ok(())
    };
    let outcome = (|| {
        for item in &mut resp.output {
            output_item_texts(item, scan_unknown, &mut f)?;
        }
        response_texts(resp, scan_unknown, &mut |t| f(t, false))
    })();
    finish_whole(g, Stage::PostResponse, outcome, &tally, cx)
}

/// Calls `f` on every text of a Responses output item, with whether it is
/// JSON: a message's `output_text` and `refusal` parts and their citations'
/// URLs and titles, a reasoning item's text and summary parts, a function
/// call's arguments (JSON) and a custom tool call's input, the name of the
/// tool called, and, with `scan_unknown`, every string in fields the types
/// do not name (a part's `transcript`, a built-in tool call's `action`, a
/// citation's `filename`; see [`extra_texts`]). `logprobs` spell the text
/// token by token, so they are removed from every part.
pub(crate) fn output_item_texts<E>(
    item: &mut OutputItem,
    scan_unknown: bool,
    f: &mut impl FnMut(&mut String, bool) -> Result<(), E>,
) -> Result<(), E> {
    for part in item.content.iter_mut().chain(item.summary.iter_mut()) {
        part.extra.remove("logprobs");
        if let Some(t) = part.text.as_mut() {
            f(t, false)?;
        }
        if let Some(t) = part.refusal.as_mut() {
            f(t, false)?;
        }
        for note in &mut part.annotations {
            for t in [note.url.as_mut(), note.title.as_mut()]
                .into_iter()
                .flatten()
            {
                f(t, false)?;
            }
            if scan_unknown {
                extra_texts(&mut note.extra, &mut |t| f(t, false))?;
            }
        }
        if scan_unknown {
            extra_texts(&mut part.extra, &mut |t| f(t, false))?;
        }
    }
    if let Some(t) = item.arguments.as_mut() {
        f(t, true)?;
    }
    if let Some(t) = item.input.as_mut() {
        f(t, false)?;
    }
    if let Some(t) = item.name.as_mut() {
        f(t, false)?;
    }
    if scan_unknown {
        extra_texts(&mut item.extra, &mut |t| f(t, false))?;
    }
    Ok(())
}

/// Calls `f` on the texts of a Responses reply outside its output items:
/// its error, why it is incomplete, and, with `scan_unknown`, every string
/// in fields the type does not name (a server's own `output_text`, ...)
/// but those that echo the request ([`ECHOED`]).
pub(crate) fn response_texts<E>(
    resp: &mut Response,
    scan_unknown: bool,
    f: &mut impl FnMut(&mut String) -> Result<(), E>,
) -> Result<(), E> {
    if let Some(e) = resp.error.as_mut() {
        f(&mut e.message)?;
        for t in [e.code.as_mut(), e.param.as_mut(), e.kind.as_mut()]
            .into_iter()
            .flatten()
        {
            f(t)?;
        }
        extra_texts(&mut e.extra, f)?;
    }
    if let Some(d) = resp.incomplete_details.as_mut() {
        if let Some(t) = d.reason.as_mut() {
            f(t)?;
        }
        extra_texts(&mut d.extra, f)?;
    }
    if scan_unknown {
        for (_, v) in resp
            .extra
            .iter_mut()
            .filter(|(k, _)| !ECHOED.contains(&k.as_str()))
        {
            value_texts(v, f)?;
        }
    }
    Ok(())
}

/// Fields of a response that echo the request (its instructions, tool
/// definitions, the output format's schema, metadata): the caller's own
/// text and configuration, which the pre-request hooks read, not text the
/// model or a tool wrote, and full of descriptions and URLs a guardrail
/// would trip on at the very end of every stream.
const ECHOED: [&str; 11] = [
    "instructions",
    "tools",
    "tool_choice",
    "text",
    "reasoning",
    "include",
    "metadata",
    "prompt",
    "truncation",
    "service_tier",
    "conversation",
];

/// Keys whose string values are not text a reader sees: ids, type tags,
/// statuses, opaque and binary payloads.
const NOT_TEXT: [&str; 10] = [
    "id",
    "item_id",
    "call_id",
    "type",
    "object",
    "status",
    "obfuscation",
    "encrypted_content",
    "data",
    "logprobs",
];

/// Calls `f` on every string in fields a type does not name that is text:
/// at any depth, all but the values of [`NOT_TEXT`] keys and base64 media
/// `data:` URLs.
pub(crate) fn extra_texts<E>(
    extra: &mut Extra,
    f: &mut impl FnMut(&mut String) -> Result<(), E>,
) -> Result<(), E> {
    extra
        .iter_mut()
        .filter(|(k, _)| !NOT_TEXT.contains(&k.as_str()))
        .try_for_each(|(_, v)| value_texts(v, f))
}

/// [`extra_texts`] of one value.
fn value_texts<E>(
    v: &mut Value,
    f: &mut impl FnMut(&mut String) -> Result<(), E>,
) -> Result<(), E> {
    match v {
        Value::String(s) if !is_binary(s) => f(s),
        Value::Array(a) => a.iter_mut().try_for_each(|v| value_texts(v, f)),
        Value::Object(o) => extra_texts(o, f),
        _ => Ok(()),
    }
}

/// The pre-request hook of a scanning guardrail.
pub(crate) fn pre_request<G: ScanGuard>(
    g: &G,
    req: &mut ChatRequest,
    cx: &mut HookContext,
) -> Result<(), HookError> {
    let mut tally = Tally::default();
    let outcome = for_each_input_text(req, |t| apply_text(g, t, &mut tally));
    finish_whole(g, Stage::PreRequest, outcome, &tally, cx)
}

/// The post-response hook of a scanning guardrail.
pub(crate) fn post_response<G: ScanGuard>(
    g: &G,
    resp: &mut ChatResponse,
    cx: &mut HookContext,
) -> Result<(), HookError> {
    let mut tally = Tally::default();
    let scan_unknown = g.scanner().scan_unknown;
    let outcome = resp.choices.iter_mut().try_for_each(|c| {
        c.logprobs = None;
        reply_choice_texts(c, scan_unknown, &mut |ch, t| {
            let json = ch.is_json();
            if let Some(new) = g.scanner().apply_as(t, json, &mut tally)? {
                *t = new;
            }
            Ok(())
        })
    });
    finish_whole(g, Stage::PostResponse, outcome, &tally, cx)
}

fn finish_whole<G: ScanGuard>(
    g: &G,
    stage: Stage,
    outcome: Result<(), Blocked>,
    tally: &Tally,
    cx: &mut HookContext,
) -> Result<(), HookError> {
    let tripped = outcome.is_err();
    record(cx, result(g, stage, tripped, tally));
    if tripped { Err(trip(g, tally)) } else { Ok(()) }
}

/// Per-stream state of a scanning guardrail as a chunk hook
/// ([`PiiState`](crate::guardrails::PiiState),
/// [`KeywordsState`](crate::guardrails::KeywordsState),
/// [`SecretKeysState`](crate::guardrails::SecretKeysState),
/// [`UrlFilterState`](crate::guardrails::UrlFilterState)): the text each
/// choice and field holds back, and what was found so far. `C` is the
/// guardrail's own scanning position, not named outside this crate.
pub struct ScanState<C>(pub(crate) StreamState<C>);

impl<C> Default for ScanState<C> {
    fn default() -> Self {
        Self(StreamState::default())
    }
}

impl<C> std::fmt::Debug for ScanState<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanState").finish_non_exhaustive()
    }
}

impl<C: Send> ScanState<C> {
    /// Bytes of streamed text this state holds back now, over every
    /// choice and field: what the next chunks, the chunk that finishes a
    /// choice, or `on_end` will release. Per field, at most four times the
    /// guardrail's cap (caps count folded bytes, and a character that folds
    /// to something takes at most four bytes per byte of its fold), plus at
    /// most [`IGNORABLE_HOLD_CAP`](crate::limits::IGNORABLE_HOLD_CAP)
    /// bytes of characters that fold to nothing. Over the stream, at most
    /// [`MAX_HELD_BYTES`](crate::limits::MAX_HELD_BYTES): past it the
    /// guardrail trips.
    pub fn held_bytes(&self) -> usize {
        self.0.held_bytes()
    }
}

/// Per-stream state of a scanning guardrail as a Responses event hook
/// (`OnChunk<ResponseEvent>`): the text each output item's channels hold
/// back, and what was emitted for each (events that repeat a text whole are
/// given that). `C` is the guardrail's own scanning position.
pub struct EventScanState<C>(pub(crate) EventState<C>);

impl<C> Default for EventScanState<C> {
    fn default() -> Self {
        Self(EventState::default())
    }
}

impl<C> std::fmt::Debug for EventScanState<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventScanState").finish_non_exhaustive()
    }
}

impl<C: Send> EventScanState<C> {
    /// Bytes of streamed text this state holds back now, over every
    /// channel (at most [`MAX_HELD_BYTES`](crate::limits::MAX_HELD_BYTES):
    /// past it the guardrail trips).
    pub fn held_bytes(&self) -> usize {
        self.0.held_bytes()
    }
}

/// Implements [`PreRequest`](crate::PreRequest),
/// [`PostResponse`](crate::PostResponse) and [`OnChunk`](crate::OnChunk) for
/// a [`ScanGuard`], with `$state` naming its [`ScanState`].
macro_rules! scan_hooks {
    ($guard:ty, $state:ident, $cursor:ty) => {
        #[doc = concat!("Per-stream state of [`", stringify!($guard), "`] as a chunk hook.")]
        ///
        /// A [`ScanState`](crate::guardrails::ScanState).
        pub type $state = $crate::guardrails::ScanState<$cursor>;

        impl $crate::PreRequest for $guard {
            async fn pre_request(
                &self,
                req: &mut $crate::ChatRequest,
                cx: &mut $crate::HookContext,
            ) -> Result<(), $crate::HookError> {
                $crate::guardrails::scan::hooks::pre_request(self, req, cx)
            }
        }

        impl $crate::PostResponse for $guard {
            async fn post_response(
                &self,
                resp: &mut $crate::ChatResponse,
                cx: &mut $crate::HookContext,
            ) -> Result<(), $crate::HookError> {
                $crate::guardrails::scan::hooks::post_response(self, resp, cx)
            }
        }

        impl $crate::PreRequest<$crate::types::responses::ResponsesRequest> for $guard {
            async fn pre_request(
                &self,
                req: &mut $crate::types::responses::ResponsesRequest,
                cx: &mut $crate::HookContext,
            ) -> Result<(), $crate::HookError> {
                $crate::guardrails::scan::hooks::pre_request_responses(self, req, cx)
            }
        }

        impl $crate::PostResponse<$crate::types::responses::Response> for $guard {
            async fn post_response(
                &self,
                resp: &mut $crate::types::responses::Response,
                cx: &mut $crate::HookContext,
            ) -> Result<(), $crate::HookError> {
                $crate::guardrails::scan::hooks::post_response_responses(self, resp, cx)
            }
        }

        impl $crate::OnChunk<$crate::types::responses::ResponseEvent> for $guard {
            type State = $crate::guardrails::EventScanState<$cursor>;
            const RELEASES: bool = true;

            fn on_chunk(
                &self,
                event: &mut $crate::types::responses::ResponseEvent,
                state: &mut Self::State,
                cx: &$crate::HookContext,
            ) -> Result<$crate::ChunkAction, $crate::HookError> {
                state.0.on_event(self, event, cx)
            }

            fn on_end(
                &self,
                state: &mut Self::State,
                cx: &$crate::HookContext,
            ) -> Result<Option<$crate::types::responses::ResponseEvent>, $crate::HookError> {
                state.0.on_end(self, cx).map(|()| None)
            }

            fn release(
                &self,
                state: &mut Self::State,
            ) -> Option<$crate::types::responses::ResponseEvent> {
                state.0.release()
            }
        }

        impl $crate::guardrails::pipeline::StageHooks for $guard {
            type Chunks = Self;
            fn chunks(&self) -> Option<&Self> {
                Some(self)
            }
        }

        impl $crate::OnChunk for $guard {
            type State = $state;

            fn on_chunk(
                &self,
                chunk: &mut $crate::ChatChunk,
                state: &mut $state,
                cx: &$crate::HookContext,
            ) -> Result<$crate::ChunkAction, $crate::HookError> {
                state.0.on_chunk(self, chunk, cx)
            }

            fn on_end(
                &self,
                state: &mut $state,
                cx: &$crate::HookContext,
            ) -> Result<Option<$crate::ChatChunk>, $crate::HookError> {
                state.0.on_end(self, cx)
            }
        }
    };
}

pub(crate) use scan_hooks;
