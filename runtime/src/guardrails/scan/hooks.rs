//! Running a scanner as a hook: over request messages, reply choices and
//! streamed chunks.
//!
//! What is scanned:
//! - pre-request: the text of system, developer and user messages (string
//!   content and text parts); assistant history, tool results and images are
//!   left alone;
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

use std::collections::HashMap;

use async_openai::types::chat::{
    ChatCompletionRequestDeveloperMessageContent as DevContent,
    ChatCompletionRequestDeveloperMessageContentPart as DevPart, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessageContent as SysContent,
    ChatCompletionRequestSystemMessageContentPart as SysPart,
    ChatCompletionRequestUserMessageContent as UserContent,
    ChatCompletionRequestUserMessageContentPart as UserPart,
};

use super::channels::{Channel, chunk_choice_texts, reply_choice_texts, slot};
use super::engine::{Blocked, Detector, FieldStream, Scanner, Tail, Tally};
use crate::guardrails::result::{GuardrailResult, record, record_shared};
use crate::hooks::{ChunkAction, HookContext, HookError, Stage};
use crate::limits::{MAX_CHOICES, MAX_HELD_BYTES, MAX_TOOL_CALLS};
use crate::types::{ChatChunk, ChatRequest, ChatResponse, ChunkChoice};

/// A guardrail built on a [`Scanner`].
pub(crate) trait ScanGuard: Send + Sync {
    type Det: Detector;
    /// The guardrail's name in results.
    fn guard_name(&self) -> &'static str;
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
    info["guardrail"] = g.guard_name().into();
    info
}

fn result<G: ScanGuard>(g: &G, stage: Stage, tripped: bool, tally: &Tally) -> GuardrailResult {
    GuardrailResult {
        guardrail: g.guard_name().into(),
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

/// Calls `f` on the text of every system, developer and user message.
pub(crate) fn for_each_input_text<E>(
    req: &mut ChatRequest,
    mut f: impl FnMut(&mut String) -> Result<(), E>,
) -> Result<(), E> {
    for msg in &mut req.messages {
        match msg {
            ChatCompletionRequestMessage::System(m) => match &mut m.content {
                SysContent::Text(t) => f(t)?,
                SysContent::Array(parts) => {
                    for SysPart::Text(p) in parts {
                        f(&mut p.text)?;
                    }
                }
            },
            ChatCompletionRequestMessage::Developer(m) => match &mut m.content {
                DevContent::Text(t) => f(t)?,
                DevContent::Array(parts) => {
                    for DevPart::Text(p) in parts {
                        f(&mut p.text)?;
                    }
                }
            },
            ChatCompletionRequestMessage::User(m) => match &mut m.content {
                UserContent::Text(t) => f(t)?,
                UserContent::Array(parts) => {
                    for part in parts {
                        if let UserPart::Text(p) = part {
                            f(&mut p.text)?;
                        }
                    }
                }
            },
            _ => {}
        }
    }
    Ok(())
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

/// One streamed channel of a choice.
enum Slot<C> {
    /// Text goes on: held back as it streams.
    Open(Box<FieldStream<C>>),
    /// The choice finished: the text the stream held at its end, to scan
    /// again in front of any text that still comes.
    Finished(Tail),
}

/// One choice of a stream: a text stream per channel.
struct ChoiceState<C> {
    index: u32,
    /// At most [`MAX_TOOL_CALLS`] tool-call channels, [`MAX_VALUE_PLACES`]
    /// value places and one of each other channel.
    streams: Vec<(Channel, Slot<C>)>,
    /// How many of `streams` are [`Channel::ToolArguments`].
    tool_calls: usize,
}

impl<C> ChoiceState<C> {
    fn holds_text(&self) -> bool {
        self.streams
            .iter()
            .any(|(_, s)| matches!(s, Slot::Open(f) if f.holds_text()))
    }
}

/// Identity of the stream's chunks, copied onto the chunk `on_end` emits.
struct Meta {
    id: String,
    object: String,
    created: u64,
    model: String,
}

/// Per-stream state of a scanning chunk hook.
pub(crate) struct StreamState<C> {
    /// In the order they first came; at most [`MAX_CHOICES`].
    choices: Vec<ChoiceState<C>>,
    /// Where each choice index is in `choices`.
    positions: HashMap<u32, usize>,
    /// Where the last choice looked up is: most chunks are for the same
    /// choice as the one before.
    last: usize,
    /// Bytes of original text held back now, over every choice and
    /// channel (what [`Self::held_bytes`] counts), kept as it changes.
    held: usize,
    meta: Option<Meta>,
    tally: Tally,
    reported: bool,
}

impl<C> Default for StreamState<C> {
    fn default() -> Self {
        Self {
            choices: Vec::new(),
            positions: HashMap::new(),
            last: 0,
            held: 0,
            meta: None,
            tally: Tally::default(),
            reported: false,
        }
    }
}

impl<C: Send> StreamState<C> {
    /// Where the state of choice `index` is in `choices`, made if new.
    fn choice(&mut self, index: u32) -> Result<usize, Stop> {
        if self
            .choices
            .get(self.last)
            .is_some_and(|c| c.index == index)
        {
            return Ok(self.last);
        }
        let i = match self.positions.get(&index) {
            Some(&i) => i,
            None if self.choices.len() == MAX_CHOICES => {
                return Err(Stop::Limit {
                    what: "choices per stream",
                    limit: MAX_CHOICES,
                });
            }
            None => {
                self.choices.push(ChoiceState {
                    index,
                    streams: Vec::new(),
                    tool_calls: 0,
                });
                self.positions.insert(index, self.choices.len() - 1);
                self.choices.len() - 1
            }
        };
        self.last = i;
        Ok(i)
    }

    /// Scans every text channel of every choice in `chunk`.
    pub(crate) fn on_chunk<G: ScanGuard<Det: Detector<Cursor = C>>>(
        &mut self,
        g: &G,
        chunk: &mut ChatChunk,
        cx: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        if self.meta.is_none() {
            self.meta = Some(Meta {
                id: chunk.id.clone(),
                object: chunk.object.clone(),
                created: chunk.created,
                model: chunk.model.clone(),
            });
        }
        let sc = g.scanner();
        let mut outcome = Ok(());
        for choice in &mut chunk.choices {
            outcome = self.choice(choice.index).and_then(|i| {
                let state = &mut self.choices[i];
                scan_choice(sc, state, choice, &mut self.tally, &mut self.held)
            });
            if outcome.is_err() {
                break;
            }
        }
        debug_assert_eq!(
            outcome.is_ok().then_some(self.held),
            outcome.is_ok().then(|| self.held_bytes())
        );
        match outcome {
            Ok(()) => Ok(ChunkAction::Pass),
            Err(Stop::Blocked) => {
                self.report(g, cx, true, None);
                Err(trip(g, &self.tally))
            }
            Err(Stop::Limit { what, limit }) => {
                self.report(g, cx, true, Some(limit_info(what, limit)));
                Err(limit_trip(g, &self.tally, what, limit))
            }
        }
    }

    /// Releases what every choice still holds, judged as the end of its
    /// text, as one chunk.
    pub(crate) fn on_end<G: ScanGuard<Det: Detector<Cursor = C>>>(
        &mut self,
        g: &G,
        cx: &HookContext,
    ) -> Result<Option<ChatChunk>, HookError> {
        let sc = g.scanner();
        let mut tally = std::mem::take(&mut self.tally);
        let mut choices = Vec::new();
        let mut outcome = Ok(());
        for state in &mut self.choices {
            if !state.holds_text() {
                continue;
            }
            let mut choice = ChunkChoice {
                index: state.index,
                ..ChunkChoice::default()
            };
            outcome = flush_choice(sc, state, &mut choice, &mut tally, &mut self.held);
            if outcome.is_err() {
                break;
            }
            choices.push(choice);
        }
        self.tally = tally;
        if outcome.is_err() {
            self.report(g, cx, true, None);
            return Err(trip(g, &self.tally));
        }
        self.report(g, cx, false, None);
        if choices.is_empty() {
            return Ok(None);
        }
        let meta = self.meta.take();
        Ok(Some(ChatChunk {
            id: meta.as_ref().map(|m| m.id.clone()).unwrap_or_default(),
            object: meta.as_ref().map(|m| m.object.clone()).unwrap_or_default(),
            created: meta.as_ref().map_or(0, |m| m.created),
            model: meta.map(|m| m.model).unwrap_or_default(),
            choices,
            ..ChatChunk::default()
        }))
    }

    /// Bytes of original text held back, over every choice and channel.
    pub(crate) fn held_bytes(&self) -> usize {
        self.choices
            .iter()
            .flat_map(|c| &c.streams)
            .map(|(_, s)| match s {
                Slot::Open(f) => f.held(),
                Slot::Finished(_) => 0,
            })
            .sum()
    }

    /// Records the result once; `limit` is the limit the stream went
    /// past, if that is why it tripped.
    fn report<G: ScanGuard>(
        &mut self,
        g: &G,
        cx: &HookContext,
        tripped: bool,
        limit: Option<serde_json::Value>,
    ) {
        if !self.reported {
            self.reported = true;
            let mut result = result(g, Stage::Chunk, tripped, &self.tally);
            if let Some(limit) = limit {
                result.info["limit"] = limit;
            }
            record_shared(cx, result);
        }
    }
}

/// The open stream of channel `ch`: a new one, or one that resumes after
/// the choice's finish (what it holds from the start is added to `held`).
/// A tool-call channel past [`MAX_TOOL_CALLS`] in the choice is an error.
fn stream_of<'s, D: Detector>(
    sc: &Scanner<D>,
    streams: &'s mut Vec<(Channel, Slot<D::Cursor>)>,
    tool_calls: &mut usize,
    ch: Channel,
    held: &mut usize,
) -> Result<&'s mut FieldStream<D::Cursor>, Stop> {
    let i = match streams.iter().position(|(c, _)| *c == ch) {
        Some(i) => i,
        None => {
            if let Channel::ToolArguments(_) = ch {
                if *tool_calls == MAX_TOOL_CALLS {
                    return Err(Stop::Limit {
                        what: "tool calls per choice",
                        limit: MAX_TOOL_CALLS,
                    });
                }
                *tool_calls += 1;
            }
            let stream = match ch.is_json() {
                true => FieldStream::new_json(&*sc.det),
                false => FieldStream::new(&*sc.det),
            };
            streams.push((ch, Slot::Open(Box::new(stream))));
            streams.len() - 1
        }
    };
    let slot = &mut streams[i].1;
    if let Slot::Finished(tail) = slot {
        let stream = FieldStream::resume(sc, tail);
        *held += stream.held();
        *slot = Slot::Open(Box::new(stream));
    }
    match slot {
        Slot::Open(f) => Ok(f),
        Slot::Finished(_) => unreachable!("opened above"),
    }
}

/// Scans the text channels of one choice of a chunk; when the chunk
/// carries the choice's finish reason, releases everything the choice
/// holds into it.
///
/// `held` follows what the choice's streams hold back; past
/// [`MAX_HELD_BYTES`] the chunk stops the stream.
fn scan_choice<D: Detector>(
    sc: &Scanner<D>,
    state: &mut ChoiceState<D::Cursor>,
    choice: &mut ChunkChoice,
    tally: &mut Tally,
    held: &mut usize,
) -> Result<(), Stop> {
    choice.logprobs = None;
    let finishing = choice.finish_reason.is_some();
    let (streams, tool_calls) = (&mut state.streams, &mut state.tool_calls);
    chunk_choice_texts(choice, sc.scan_unknown, &mut |ch, text| match ch {
        Channel::Value(_) => Ok(whole_value(sc, streams, ch, text, tally)?),
        ch => {
            let stream = stream_of(sc, streams, tool_calls, ch, held)?;
            let before = stream.held();
            stream.push(sc, text, false, tally)?;
            *held = *held - before + stream.held();
            if *held > MAX_HELD_BYTES {
                return Err(Stop::Limit {
                    what: "held-back bytes per stream",
                    limit: MAX_HELD_BYTES,
                });
            }
            Ok(())
        }
    })?;
    if finishing {
        flush_choice(sc, state, choice, tally, held)?;
    }
    Ok(())
}

/// Releases everything `state` holds into `choice`'s delta, judged as the
/// end of each channel's text, and keeps each channel's tail in case text
/// still comes.
fn flush_choice<D: Detector>(
    sc: &Scanner<D>,
    state: &mut ChoiceState<D::Cursor>,
    choice: &mut ChunkChoice,
    tally: &mut Tally,
    held: &mut usize,
) -> Result<(), Blocked> {
    for (ch, slot) in &mut state.streams {
        let Slot::Open(stream) = slot else {
            continue;
        };
        *held -= stream.held();
        let mut text = String::new();
        let tail = stream.finish(sc, &mut text, tally)?;
        if !text.is_empty() {
            slot_push(choice, *ch, &text);
        }
        *slot = Slot::Finished(tail);
    }
    Ok(())
}

fn slot_push(choice: &mut ChunkChoice, ch: Channel, text: &str) {
    if let Some(field) = slot(&mut choice.delta, ch) {
        field.push_str(text);
    }
}

/// The most places a choice keeps values at (see [`whole_value`]); values
/// at further places are scanned on their own.
const MAX_VALUE_PLACES: usize = 64;

/// Scans a value that comes whole in its chunk (a name, a string in an
/// unknown field): as the end of the text at its place so far, so a match
/// that begins in an earlier value at the same place (which a client that
/// gathers the stream joins to it) is found, and blocks; a match inside
/// the value is dealt with as in any text.
fn whole_value<D: Detector>(
    sc: &Scanner<D>,
    streams: &mut Vec<(Channel, Slot<D::Cursor>)>,
    ch: Channel,
    text: &mut String,
    tally: &mut Tally,
) -> Result<(), Blocked> {
    let i = match streams.iter().position(|(c, _)| *c == ch) {
        Some(i) => i,
        None if streams.len() < MAX_VALUE_PLACES => {
            streams.push((ch, Slot::Finished(Tail::default())));
            streams.len() - 1
        }
        None => {
            if let Some(new) = sc.apply(text, tally)? {
                *text = new;
            }
            return Ok(());
        }
    };
    let slot = &mut streams[i].1;
    let mut stream = match slot {
        Slot::Finished(tail) => FieldStream::resume(sc, tail),
        Slot::Open(_) => FieldStream::new(&*sc.det),
    };
    *slot = Slot::Finished(stream.finish(sc, text, tally)?);
    Ok(())
}

/// Implements [`PreRequest`](crate::PreRequest),
/// [`PostResponse`](crate::PostResponse) and [`OnChunk`](crate::OnChunk) for
/// a [`ScanGuard`], with `$state` as its opaque per-stream state.
macro_rules! scan_hooks {
    ($guard:ty, $state:ident, $cursor:ty) => {
        /// Per-stream state of the guardrail as a chunk hook: the text each
        /// choice and field holds back, and what was found so far.
        #[derive(Default)]
        pub struct $state($crate::guardrails::scan::hooks::StreamState<$cursor>);

        impl $state {
            /// Bytes of streamed text this state holds back now, over every
            /// choice and field: what the next chunks, the chunk that
            /// finishes a choice, or `on_end` will release. Per field, at
            /// most four times the guardrail's cap (caps count folded
            /// bytes, and a character that folds to something takes at most
            /// four bytes per byte of its fold), plus at most
            /// [`IGNORABLE_HOLD_CAP`](crate::guardrails::IGNORABLE_HOLD_CAP)
            /// bytes of characters that fold to nothing. Over the stream, at
            /// most [`MAX_HELD_BYTES`](crate::limits::MAX_HELD_BYTES): past
            /// it the guardrail trips.
            pub fn held_bytes(&self) -> usize {
                self.0.held_bytes()
            }
        }

        impl ::std::fmt::Debug for $state {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($state)).finish_non_exhaustive()
            }
        }

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
