//! Scripted replies: what the local server answers, and how it goes wrong.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

/// A tool call the server makes in a scripted reply.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCallSpec {
    /// The call's id (`call_...`).
    pub id: String,
    /// The function's name.
    pub name: String,
    /// The arguments (sent as JSON text, streamed in fragments).
    pub arguments: Value,
}

impl ToolCallSpec {
    /// A call to `name` with `arguments`, id `call_<name>`.
    pub fn new(name: impl Into<String>, arguments: Value) -> Self {
        let name = name.into();
        Self {
            id: format!("call_{name}"),
            name,
            arguments,
        }
    }
}

/// A way for a reply to go wrong on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// After `after` events, send a `data:` line that is not JSON.
    MalformedLine {
        /// Events sent first.
        after: usize,
    },
    /// After `after` events, end the body cleanly: no finish reason, no
    /// `[DONE]`.
    CutBeforeDone {
        /// Events sent first.
        after: usize,
    },
    /// After `after` events, abort the connection (the client sees an error
    /// while reading the body).
    ResetAfter {
        /// Events sent first.
        after: usize,
    },
    /// Abort the connection before any response.
    ResetBeforeResponse,
    /// Send the response headers, then nothing until the client goes away
    /// or the server shuts down.
    Stall,
    /// After `after` events, send nothing more until the client goes away
    /// or the server shuts down: a gap between two chunks.
    StallAfter {
        /// Events sent first.
        after: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// Text; `None` means: echo the last user message.
    Text(Option<String>),
    ToolCalls(Vec<ToolCallSpec>),
    Refusal(String),
    Error {
        status: u16,
        code: String,
        message: String,
    },
    Raw {
        status: u16,
        content_type: String,
        body: String,
    },
    Fixture(PathBuf),
}

/// How a Responses stream ends (the Chat route knows only the first two).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ending {
    /// `response.completed`.
    Completed,
    /// `response.incomplete` with this `incomplete_details.reason`.
    Incomplete(String),
    /// `response.failed` with this `error`.
    Failed { code: String, message: String },
    /// An `error` event, and nothing after it.
    Error { code: String, message: String },
    /// No terminal event: the body ends after the last delta.
    Silent,
}

/// What the server answers to one request. The request's `"stream": true`
/// decides between a JSON reply and an SSE stream, as OpenAI's does.
///
/// ```
/// use std::time::Duration;
/// use openai_hooks::server::{Fault, Reply};
///
/// let slow = Reply::text("Hello there").chunks(4).chunk_delay(Duration::from_millis(20));
/// let cut = Reply::text("never finishes").chunks(5).fault(Fault::CutBeforeDone { after: 3 });
/// let throttled = Reply::error(429, "rate_limit_exceeded", "Slow down").retry_after(2);
/// # drop((slow, cut, throttled));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub(crate) body: Body,
    pub(crate) chunks: usize,
    pub(crate) finish_reason: Option<String>,
    pub(crate) usage: Option<(u64, u64)>,
    pub(crate) model: Option<String>,
    pub(crate) reasoning: Option<String>,
    pub(crate) first_byte_delay: Duration,
    pub(crate) chunk_delay: Duration,
    pub(crate) fault: Option<Fault>,
    pub(crate) retry_after: Option<String>,
    pub(crate) with_done: bool,
    pub(crate) summary: Option<String>,
    pub(crate) then_calls: Vec<ToolCallSpec>,
    pub(crate) ending: Ending,
    pub(crate) cached_tokens: u64,
    pub(crate) reasoning_tokens: Option<u64>,
}

impl Reply {
    fn new(body: Body) -> Self {
        Self {
            body,
            chunks: 1,
            finish_reason: None,
            usage: None,
            model: None,
            reasoning: None,
            first_byte_delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            fault: None,
            retry_after: None,
            with_done: false,
            summary: None,
            then_calls: Vec::new(),
            ending: Ending::Completed,
            cached_tokens: 0,
            reasoning_tokens: None,
        }
    }

    /// Answers with `text` (streamed in one content chunk unless
    /// [`chunks`](Self::chunks) says otherwise).
    pub fn text(text: impl Into<String>) -> Self {
        Self::new(Body::Text(Some(text.into())))
    }

    /// Answers with the text of the request's last user message: the
    /// server's default reply.
    pub fn echo() -> Self {
        Self::new(Body::Text(None))
    }

    /// Calls tools (in parallel when several), finish reason `tool_calls`.
    pub fn tool_calls(calls: impl IntoIterator<Item = ToolCallSpec>) -> Self {
        Self::new(Body::ToolCalls(calls.into_iter().collect()))
    }

    /// Refuses, in `refusal` (content `null`).
    pub fn refusal(text: impl Into<String>) -> Self {
        Self::new(Body::Refusal(text.into()))
    }

    /// Fails with `status` and an OpenAI-shaped error body.
    pub fn error(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Body::Error {
            status,
            code: code.into(),
            message: message.into(),
        })
    }

    /// Answers with exactly this status, content type and body.
    pub fn raw(status: u16, content_type: impl Into<String>, body: impl Into<String>) -> Self {
        Self::new(Body::Raw {
            status,
            content_type: content_type.into(),
            body: body.into(),
        })
    }

    /// Replays a recorded file byte for byte: an `.sse` stream or a `.json`
    /// reply.
    pub fn fixture(path: impl AsRef<Path>) -> Self {
        Self::new(Body::Fixture(path.as_ref().to_owned()))
    }

    /// Streams the text (or each tool call's arguments) in `n` pieces.
    pub fn chunks(mut self, n: usize) -> Self {
        self.chunks = n.max(1);
        self
    }

    /// Same as [`chunks`](Self::chunks), for tool-call arguments.
    pub fn fragments(self, n: usize) -> Self {
        self.chunks(n)
    }

    /// The finish reason (default `stop`, or `tool_calls`).
    pub fn finish_reason(mut self, reason: impl Into<String>) -> Self {
        self.finish_reason = Some(reason.into());
        self
    }

    /// Token usage to report (default: estimated from the texts).
    pub fn usage(mut self, prompt: u64, completion: u64) -> Self {
        self.usage = Some((prompt, completion));
        self
    }

    /// The model to name (default: the request's).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Reasoning sent before the reply: `reasoning_content` on Chat
    /// Completions; on the Responses API a `reasoning` item whose content is
    /// `reasoning_text` (as vLLM and gpt-oss models send it), streamed in
    /// `response.reasoning_text.delta` events.
    pub fn reasoning(mut self, text: impl Into<String>) -> Self {
        self.reasoning = Some(text.into());
        self
    }

    /// Responses API: a reasoning summary (`summary_text`), streamed in
    /// `response.reasoning_summary_text.delta` events before the reply, in
    /// the same `reasoning` item as [`reasoning`](Self::reasoning) text.
    /// Chat Completions has no equivalent and ignores it.
    pub fn reasoning_summary(mut self, text: impl Into<String>) -> Self {
        self.summary = Some(text.into());
        self
    }

    /// Calls tools after the text: on Chat Completions the text in
    /// `content` and then `tool_calls` (finish reason `tool_calls`); on the
    /// Responses API a `message` item followed by `function_call` items.
    pub fn then_tool_calls(mut self, calls: impl IntoIterator<Item = ToolCallSpec>) -> Self {
        self.then_calls.extend(calls);
        self
    }

    /// Ends incomplete: on the Responses API `response.incomplete` with
    /// `incomplete_details.reason` (`max_output_tokens`, `content_filter`),
    /// the last output item `incomplete`, and the last tool call's
    /// arguments cut at half their length (the model stopped inside them);
    /// on Chat Completions finish reason `length` or `content_filter`.
    pub fn incomplete(mut self, reason: impl Into<String>) -> Self {
        self.ending = Ending::Incomplete(reason.into());
        self
    }

    /// Responses API: fails after the last delta with `response.failed`
    /// (status `failed`, `error: {code, message}`); a JSON reply is that
    /// response. Chat Completions ignores it.
    pub fn failed(mut self, code: impl Into<String>, message: impl Into<String>) -> Self {
        self.ending = Ending::Failed {
            code: code.into(),
            message: message.into(),
        };
        self
    }

    /// Responses API: ends the stream after the last delta with an `error`
    /// event (e.g. `rate_limit_exceeded`, `context_length_exceeded`) and
    /// nothing after it; a JSON reply is that error with status 429 for
    /// `rate_limit_exceeded`, 500 for `server_error`, else 400. Chat
    /// Completions ignores it.
    pub fn stream_error(mut self, code: impl Into<String>, message: impl Into<String>) -> Self {
        self.ending = Ending::Error {
            code: code.into(),
            message: message.into(),
        };
        self
    }

    /// Responses API: ends the body after the last delta with no terminal
    /// event (no `.done` events for the item being written, no
    /// `response.completed`); a JSON reply is cut at half its bytes. Chat
    /// Completions ignores it.
    pub fn no_terminal_event(mut self) -> Self {
        self.ending = Ending::Silent;
        self
    }

    /// Usage details: `cached_tokens` of the input, `reasoning_tokens` of
    /// the output (default 0 and an estimate from the reasoning texts).
    pub fn usage_details(mut self, cached_tokens: u64, reasoning_tokens: u64) -> Self {
        self.cached_tokens = cached_tokens;
        self.reasoning_tokens = Some(reasoning_tokens);
        self
    }

    /// Waits before sending the response headers.
    pub fn first_byte_delay(mut self, d: Duration) -> Self {
        self.first_byte_delay = d;
        self
    }

    /// Waits before each streamed event.
    pub fn chunk_delay(mut self, d: Duration) -> Self {
        self.chunk_delay = d;
        self
    }

    /// Goes wrong on purpose.
    pub fn fault(mut self, fault: Fault) -> Self {
        self.fault = Some(fault);
        self
    }

    /// Sends `Retry-After: <secs>`.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.to_string());
        self
    }

    /// Ends a replayed recording with `data: [DONE]` when it has none.
    pub fn with_done(mut self) -> Self {
        self.with_done = true;
        self
    }
}

/// Splits `s` into `n` pieces of about equal length, on char boundaries.
pub(crate) fn split(s: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let n = n.clamp(1, chars.len().max(1));
    let base = chars.len() / n;
    let extra = chars.len() % n;
    let mut out = Vec::with_capacity(n);
    let mut at = 0;
    for i in 0..n {
        let len = base + usize::from(i < extra);
        out.push(chars[at..at + len].iter().collect());
        at += len;
    }
    out
}

/// The Chat Completions finish reason: the scripted one, else what the
/// reply's body and ending imply.
fn chat_finish(reply: &Reply) -> &str {
    if let Some(f) = &reply.finish_reason {
        return f;
    }
    match (&reply.ending, &reply.body) {
        (Ending::Incomplete(r), _) if r == "content_filter" => "content_filter",
        (Ending::Incomplete(_), _) => "length",
        (_, Body::ToolCalls(_)) => "tool_calls",
        (_, Body::Text(_)) if !reply.then_calls.is_empty() => "tool_calls",
        _ => "stop",
    }
}

/// The pieces of a completion a reply renders, as JSON values.
pub(crate) struct Rendered {
    pub(crate) id: String,
    pub(crate) created: u64,
    pub(crate) model: String,
}

impl Rendered {
    fn chunk(&self, choice: Value, usage: Option<Value>) -> Value {
        let mut c = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_local",
            "choices": [choice],
        });
        if let Some(u) = usage {
            c["choices"] = json!([]);
            c["usage"] = u;
        }
        c
    }

    /// The SSE `data:` payloads for `reply` (without `[DONE]`).
    pub(crate) fn events(&self, reply: &Reply, text: &str, usage: Option<Value>) -> Vec<String> {
        let delta = |d: Value, finish: Value| {
            self.chunk(
                json!({"index": 0, "delta": d, "logprobs": null, "finish_reason": finish}),
                None,
            )
        };
        let mut events = vec![delta(
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        )];
        if let Some(r) = &reply.reasoning {
            for piece in split(r, reply.chunks) {
                events.push(delta(json!({"reasoning_content": piece}), Value::Null));
            }
        }
        let stream_calls = |events: &mut Vec<Value>, calls: &[ToolCallSpec]| {
            for (i, call) in calls.iter().enumerate() {
                let args = call.arguments.to_string();
                for (k, piece) in split(&args, reply.chunks).into_iter().enumerate() {
                    let tc = if k == 0 {
                        json!({"index": i, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": piece}})
                    } else {
                        json!({"index": i, "function": {"arguments": piece}})
                    };
                    events.push(delta(json!({"tool_calls": [tc]}), Value::Null));
                }
            }
        };
        match &reply.body {
            Body::ToolCalls(calls) => stream_calls(&mut events, calls),
            Body::Refusal(r) => {
                for piece in split(r, reply.chunks) {
                    events.push(delta(json!({"refusal": piece}), Value::Null));
                }
            }
            _ => {
                for piece in split(text, reply.chunks) {
                    events.push(delta(json!({"content": piece}), Value::Null));
                }
                stream_calls(&mut events, &reply.then_calls);
            }
        }
        let finish = chat_finish(reply);
        events.push(delta(json!({}), json!(finish)));
        if let Some(u) = usage {
            events.push(self.chunk(Value::Null, Some(u)));
        }
        events.into_iter().map(|e| e.to_string()).collect()
    }

    /// The `chat.completion` body for `reply`.
    pub(crate) fn completion(&self, reply: &Reply, text: &str, usage: Value) -> Value {
        let calls = |calls: &[ToolCallSpec]| {
            calls
                .iter()
                .map(|c| {
                    json!({
                        "id": c.id, "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments.to_string()},
                    })
                })
                .collect::<Vec<_>>()
        };
        let mut message = match &reply.body {
            Body::ToolCalls(c) => {
                json!({"role": "assistant", "content": null, "tool_calls": calls(c)})
            }
            Body::Refusal(r) => json!({"role": "assistant", "content": null, "refusal": r}),
            _ => json!({"role": "assistant", "content": text, "refusal": null}),
        };
        if !reply.then_calls.is_empty() && matches!(reply.body, Body::Text(_)) {
            message["tool_calls"] = json!(calls(&reply.then_calls));
        }
        if let Some(r) = &reply.reasoning {
            message["reasoning_content"] = json!(r);
        }
        let finish = chat_finish(reply);
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_local",
            "choices": [{
                "index": 0,
                "message": message,
                "logprobs": null,
                "finish_reason": finish,
            }],
            "usage": usage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn split_keeps_every_char_in_order() {
        assert_eq!(split("abcdefg", 3), ["abc", "de", "fg"]);
        assert_eq!(split("ab", 5), ["a", "b"]);
        assert_eq!(split("", 3), [""]);
        assert_eq!(split("héllo wörld", 4).concat(), "héllo wörld");
    }
}
