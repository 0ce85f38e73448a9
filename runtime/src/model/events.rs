//! Stream events: a reply turned into the provider-neutral event sequence an
//! agent loop consumes (Strands Agents' `StreamEvent` in Rust).
//!
//! For every reply, streamed or not, the sequence is: [`MessageStart`],
//! then content blocks ([`ContentBlockStart`], deltas, [`ContentBlockStop`])
//! for reasoning, text and refusals in the order they arrive and then for
//! each tool call in index order, then [`MessageStop`] with the stop reason,
//! then [`Metadata`] with usage and timings. A stream's open block closes at
//! its finish reason; the tool-call blocks and `MessageStop` follow when the
//! stream ends (after the usage chunk), so a piece a server sends after the
//! finish reason is not dropped and the order holds. A stream that fails
//! after its finish reason still gets its tool calls and `MessageStop`
//! before the error ([`EventConverter::interrupt`]).
//!
//! [`MessageStart`]: StreamEvent::MessageStart
//! [`ContentBlockStart`]: StreamEvent::ContentBlockStart
//! [`ContentBlockStop`]: StreamEvent::ContentBlockStop
//! [`MessageStop`]: StreamEvent::MessageStop
//! [`Metadata`]: StreamEvent::Metadata

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::content::Role;
use super::error::ModelError;
use crate::client::{ApiError, ClientError};
use crate::limits::{MAX_TOOL_ARGUMENT_BYTES, MAX_TOOL_CALLS};
use crate::types::{ChatChunk, ChatResponse, FinishReason, Usage};

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// It finished its turn (`stop`).
    EndTurn,
    /// It called tools (`tool_calls`, or the legacy `function_call`).
    ToolUse,
    /// It hit the token limit (`length`).
    MaxTokens,
    /// A content filter withheld output (`content_filter`).
    ContentFiltered,
    /// Another reason a server sent, verbatim.
    Other(String),
}

impl From<&FinishReason> for StopReason {
    fn from(reason: &FinishReason) -> Self {
        match reason {
            FinishReason::Stop => StopReason::EndTurn,
            FinishReason::ToolCalls | FinishReason::FunctionCall => StopReason::ToolUse,
            FinishReason::Length => StopReason::MaxTokens,
            FinishReason::ContentFilter => StopReason::ContentFiltered,
            FinishReason::Other(other) => StopReason::Other(other.clone()),
        }
    }
}

/// What a content block holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockStart {
    /// Reply text.
    Text,
    /// Reasoning (`reasoning_content` or `reasoning` on the wire).
    Reasoning,
    /// A refusal: the model declined, and says why.
    Refusal,
    /// A tool call.
    ToolUse {
        /// The call's id.
        id: String,
        /// The tool's name.
        name: String,
    },
}

/// A piece of a content block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockDelta {
    /// Reply text.
    Text(String),
    /// Reasoning text.
    Reasoning(String),
    /// Refusal text.
    Refusal(String),
    /// A fragment of a tool call's JSON arguments; the fragments of one
    /// block concatenate to the whole arguments.
    ToolUseInput(String),
}

/// Token counts of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenUsage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Both.
    pub total_tokens: u64,
    /// Prompt tokens served from the provider's prompt cache, when reported.
    pub cached_input_tokens: Option<u64>,
}

impl From<&Usage> for TokenUsage {
    fn from(u: &Usage) -> Self {
        Self {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
            total_tokens: u.total_tokens,
            cached_input_tokens: u.cached_tokens(),
        }
    }
}

/// Timings of one call, measured on this side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Metrics {
    /// From sending the request to the end of the reply.
    pub latency: Duration,
    /// From sending the request to the first chunk that carried output
    /// (text, reasoning, a refusal or a tool call); `None` without a stream
    /// or without output.
    pub time_to_first_token: Option<Duration>,
}

/// One event of a reply.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The reply begins.
    MessageStart {
        /// Always the assistant.
        role: Role,
    },
    /// A content block begins.
    ContentBlockStart(BlockStart),
    /// A piece of the current content block.
    ContentBlockDelta(BlockDelta),
    /// The current content block ends.
    ContentBlockStop,
    /// The reply ends.
    MessageStop {
        /// Why.
        stop_reason: StopReason,
    },
    /// Usage and timings, after the reply.
    Metadata {
        /// Token counts, when the server sent them.
        usage: Option<TokenUsage>,
        /// Timings.
        metrics: Metrics,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Reasoning,
    Refusal,
}

#[derive(Debug, Default)]
struct ToolAcc {
    id: String,
    name: String,
    /// The arguments' fragments, joined.
    arguments: String,
    /// Where each fragment ends in `arguments`.
    ends: Vec<usize>,
}

impl ToolAcc {
    /// Adds a fragment of the arguments; an error past
    /// [`MAX_TOOL_ARGUMENT_BYTES`].
    fn add(&mut self, fragment: &str) -> Result<(), ClientError> {
        if self.arguments.len() + fragment.len() > MAX_TOOL_ARGUMENT_BYTES {
            return Err(ClientError::LimitExceeded {
                what: "tool-argument bytes per call",
                limit: MAX_TOOL_ARGUMENT_BYTES as u64,
            });
        }
        self.arguments.push_str(fragment);
        self.ends.push(self.arguments.len());
        Ok(())
    }

    /// The fragments, in order.
    fn fragments(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(start, end)| &self.arguments[start..end])
    }
}

/// Turns chunks into events, one chunk at a time. Only choice 0 is read
/// (Chat Completions' `n` is 1 for agent loops).
///
/// A stream's tool calls are kept until it ends: more than
/// [`MAX_TOOL_CALLS`] calls, or more than [`MAX_TOOL_ARGUMENT_BYTES`] of
/// one call's arguments, is [`ClientError::LimitExceeded`] (in
/// [`ModelError::Client`]).
#[derive(Debug)]
pub struct EventConverter {
    started: Instant,
    first_token: Option<Instant>,
    began: bool,
    open: Option<Open>,
    /// Calls by index; more than one at an index when a server numbers
    /// every parallel call 0 and only the id tells them apart.
    tools: BTreeMap<u32, Vec<ToolAcc>>,
    /// How many calls `tools` holds.
    calls: usize,
    stop: Option<StopReason>,
    usage: Option<TokenUsage>,
    chunks: u64,
    /// Whether the reply streams: a one-shot reply has no first token to
    /// time.
    streamed: bool,
}

impl EventConverter {
    /// A converter for a request sent at `started`.
    pub fn new(started: Instant) -> Self {
        Self {
            started,
            first_token: None,
            began: false,
            open: None,
            tools: BTreeMap::new(),
            calls: 0,
            stop: None,
            usage: None,
            chunks: 0,
            streamed: true,
        }
    }

    fn begin(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.began {
            self.began = true;
            out.push(StreamEvent::MessageStart {
                role: Role::Assistant,
            });
        }
    }

    fn switch(&mut self, to: Open, out: &mut Vec<StreamEvent>) {
        if self.open == Some(to) {
            return;
        }
        if self.open.take().is_some() {
            out.push(StreamEvent::ContentBlockStop);
        }
        out.push(StreamEvent::ContentBlockStart(match to {
            Open::Text => BlockStart::Text,
            Open::Reasoning => BlockStart::Reasoning,
            Open::Refusal => BlockStart::Refusal,
        }));
        self.open = Some(to);
    }

    fn piece(&mut self, to: Open, text: &str, out: &mut Vec<StreamEvent>) {
        if text.is_empty() {
            return;
        }
        if self.streamed {
            self.first_token.get_or_insert_with(Instant::now);
        }
        self.switch(to, out);
        out.push(StreamEvent::ContentBlockDelta(match to {
            Open::Text => BlockDelta::Text(text.to_owned()),
            Open::Reasoning => BlockDelta::Reasoning(text.to_owned()),
            Open::Refusal => BlockDelta::Refusal(text.to_owned()),
        }));
    }

    /// Closes the open block, then emits each tool call's block.
    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if self.open.take().is_some() {
            out.push(StreamEvent::ContentBlockStop);
        }
        self.calls = 0;
        for mut tool in std::mem::take(&mut self.tools).into_values().flatten() {
            out.push(StreamEvent::ContentBlockStart(BlockStart::ToolUse {
                id: std::mem::take(&mut tool.id),
                name: std::mem::take(&mut tool.name),
            }));
            for fragment in tool.fragments() {
                out.push(StreamEvent::ContentBlockDelta(BlockDelta::ToolUseInput(
                    fragment.to_owned(),
                )));
            }
            out.push(StreamEvent::ContentBlockStop);
        }
    }

    /// Adds the events `chunk` causes to `out`. An `error` object in the
    /// chunk ends the reply with that error (after [`Self::interrupt`]'s
    /// events).
    pub fn push(
        &mut self,
        chunk: &ChatChunk,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ModelError> {
        self.chunks += 1;
        if let Some(wire) = &chunk.error {
            self.interrupt(out);
            return Err(ClientError::Api(ApiError::from_wire(None, wire.clone())).into());
        }
        if let Some(usage) = &chunk.usage {
            self.usage = Some(usage.into());
        }
        let Some(choice) = chunk.choices.iter().find(|c| c.index == 0) else {
            // Azure's prompt-filter results and the usage chunk have no
            // choices.
            return Ok(());
        };
        self.begin(out);
        let delta = &choice.delta;
        if let Some(text) = delta.reasoning_text() {
            self.piece(Open::Reasoning, text, out);
        }
        if let Some(text) = &delta.content {
            self.piece(Open::Text, text, out);
        }
        if let Some(text) = &delta.refusal {
            self.piece(Open::Refusal, text, out);
        }
        for call in delta.tool_calls.iter().flatten() {
            self.first_token.get_or_insert_with(Instant::now);
            let id = call.id.as_deref().filter(|id| !id.is_empty());
            let calls = self.tools.entry(call.index).or_default();
            // Later fragments repeat the id, send `""` or none; a different
            // id at the same index is a new call.
            let new_call = match (calls.last(), id) {
                (None, _) => true,
                (Some(last), Some(id)) => !last.id.is_empty() && last.id != id,
                (Some(_), None) => false,
            };
            if new_call {
                if self.calls == MAX_TOOL_CALLS {
                    if calls.is_empty() {
                        self.tools.remove(&call.index);
                    }
                    return Err(ClientError::LimitExceeded {
                        what: "tool calls per choice",
                        limit: MAX_TOOL_CALLS as u64,
                    }
                    .into());
                }
                self.calls += 1;
                calls.push(ToolAcc::default());
            }
            let Some(acc) = calls.last_mut() else {
                continue;
            };
            if let Some(id) = id
                && acc.id.is_empty()
            {
                id.clone_into(&mut acc.id);
            }
            if let Some(function) = &call.function {
                if let Some(name) = function.name.as_deref().filter(|n| !n.is_empty())
                    && acc.name.is_empty()
                {
                    name.clone_into(&mut acc.name);
                }
                if let Some(args) = function.arguments.as_deref().filter(|a| !a.is_empty()) {
                    acc.add(args)?;
                }
            }
        }
        // The open block closes at the finish reason; the tool-call blocks
        // and `MessageStop` wait for the end of the stream, so a piece some
        // servers send after the finish reason (a repeated finish chunk, a
        // last fragment) is not dropped: text gets a block of its own, and
        // a tool-call fragment joins the call it continues.
        if let Some(reason) = &choice.finish_reason
            && self.stop.is_none()
        {
            if self.open.take().is_some() {
                out.push(StreamEvent::ContentBlockStop);
            }
            self.stop = Some(StopReason::from(reason));
        }
        Ok(())
    }

    /// The stream failed part way (a transport error, a time limit, an
    /// `error` object): when the reply had already said why it stopped,
    /// its blocks close and [`StreamEvent::MessageStop`] is emitted, so the
    /// caller holds the whole reply before the error that ends the stream.
    /// Without a stop reason it adds nothing.
    pub fn interrupt(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(stop_reason) = self.stop.take() {
            self.close(out);
            out.push(StreamEvent::MessageStop { stop_reason });
        }
    }

    /// Ends the reply: any block still open, [`StreamEvent::MessageStop`]
    /// and the metadata event, or an error if the reply never said why it
    /// stopped (it was cut short).
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ModelError> {
        let Some(stop_reason) = self.stop.clone() else {
            return Err(ClientError::Truncated {
                chunks: self.chunks,
            }
            .into());
        };
        self.close(out);
        out.push(StreamEvent::MessageStop { stop_reason });
        out.push(StreamEvent::Metadata {
            usage: self.usage,
            metrics: Metrics {
                latency: self.started.elapsed(),
                time_to_first_token: self.first_token.map(|t| t - self.started),
            },
        });
        Ok(())
    }
}

/// The events of a complete (non-streamed) reply, in the same shape as a
/// stream's.
pub fn response_events(
    resp: &ChatResponse,
    started: Instant,
) -> Result<Vec<StreamEvent>, ModelError> {
    let mut out = Vec::new();
    let mut conv = EventConverter::new(started);
    let Some(choice) = resp.choices.iter().find(|c| c.index == 0) else {
        return Err(ClientError::Decode {
            what: "response",
            reason: "the reply has no choices".into(),
            snippet: String::new(),
        }
        .into());
    };
    conv.chunks = 1;
    conv.streamed = false;
    conv.begin(&mut out);
    let message = &choice.message;
    if let Some(text) = message.reasoning_text() {
        conv.piece(Open::Reasoning, text, &mut out);
    }
    if let Some(text) = &message.content {
        conv.piece(Open::Text, text, &mut out);
    }
    if let Some(text) = &message.refusal {
        conv.piece(Open::Refusal, text, &mut out);
    }
    for (i, call) in message.tool_calls.iter().flatten().enumerate() {
        let arguments = call.function.arguments.clone();
        conv.tools.insert(
            i as u32,
            vec![ToolAcc {
                id: call.id.clone(),
                name: call.function.name.clone(),
                ends: vec![arguments.len()],
                arguments,
            }],
        );
    }
    let reason = choice.finish_reason.clone().unwrap_or(FinishReason::Stop);
    conv.stop = Some(StopReason::from(&reason));
    conv.usage = resp.usage.as_ref().map(TokenUsage::from);
    conv.finish(&mut out)?;
    Ok(out)
}
