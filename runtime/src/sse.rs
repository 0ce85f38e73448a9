//! A model's reply as Server-Sent Events from an axum handler (feature
//! `axum`).
//!
//! [`ModelSse`] turns the events of [`OpenAIModel::stream_owned`](crate::OpenAIModel::stream_owned)
//! (or any `'static` stream of them) into an HTTP response:
//!
//! | model event | SSE event |
//! |---|---|
//! | a text delta | `data: <text>` (the default event type, `message`) |
//! | a refusal delta | `event: refusal`, `data: <text>` |
//! | a reasoning delta | `event: reasoning` (only with [`reasoning(true)`](ModelSse::reasoning)) |
//! | a tool call, once its arguments are complete | `event: tool_use`, `data: {"id", "name", "input"}` |
//! | the reply's end | `event: stop`, `data: {"reason"}` (`end_turn`, `tool_use`, `max_tokens`, `content_filtered`, or what the server said) |
//! | usage and timings | `event: usage`, `data: {"input_tokens", "output_tokens", "total_tokens", "cached_input_tokens", "latency_ms", "time_to_first_token_ms"}` |
//! | the end of the stream | `event: done`, `data: [DONE]` |
//!
//! A text's line breaks arrive as LF: a CRLF (even one cut between two
//! deltas) is one line break, and a lone CR, which SSE cannot carry, is a
//! LF.
//!
//! An error before the first event becomes the response itself: an HTTP
//! status from [`status_of`] (or your own mapping), `Retry-After` when the
//! server gave one, and a JSON body `{"error": {"message", "code"}}` whose
//! message is the error's [`public_message`](crate::model::ModelError::public_message):
//! nothing a guardrail matched, no upstream body, no key. An error after
//! the first event is a last `event: error` with the same body, and the
//! stream ends. The detail is for your logs: the response never carries it.
//!
//! Dropping the response body (the client went away) drops the stream and,
//! with it, the model's call: its connection is closed and nothing more is
//! read.
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Router, extract::State, response::Response, routing::post};
//! use openai_hooks::model::{Message, OpenAIModel};
//! use openai_hooks::sse::ModelSse;
//!
//! async fn chat(State(model): State<Arc<OpenAIModel>>, prompt: String) -> Response {
//!     let events = model.stream_owned(vec![Message::user(prompt)], vec![], None, None);
//!     ModelSse::new(events).into_response().await
//! }
//!
//! # fn app(model: OpenAIModel) -> Router {
//! Router::new().route("/chat", post(chat)).with_state(Arc::new(model))
//! # }
//! ```

use std::convert::Infallible;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde_json::json;

use crate::client::ClientError;
use crate::hooks::HookError;
use crate::model::{BlockDelta, BlockStart, ModelError, StopReason, StreamEvent};

/// How an error maps to an HTTP status.
pub type StatusOf = fn(&ModelError) -> StatusCode;

/// The default mapping of an error to an HTTP status:
///
/// | error | status |
/// |---|---|
/// | throttled (or an upstream 429 other than an exhausted quota) | 429, with `Retry-After` when the server gave one |
/// | the conversation is too long for the model | 400 |
/// | a guardrail's tripwire, a server's content filter | 422 |
/// | an invalid request built from the caller's input | 400 |
/// | a timeout waiting for the server | 504 |
/// | any other upstream error (an API error, a cut or unreadable reply, a limit, a transport failure) | 502 |
/// | a hook that failed or panicked, the model's configuration | 500 |
pub fn status_of(e: &ModelError) -> StatusCode {
    match e {
        ModelError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
        ModelError::ContextWindowOverflow(_) => StatusCode::BAD_REQUEST,
        ModelError::ContentFiltered(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ModelError::Hook(h) | ModelError::Client(ClientError::Hook(h)) => hook_status(h),
        ModelError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
        // An exhausted quota is a 429 upstream, but no wait fixes it.
        ModelError::Client(ClientError::Api(api))
            if api.status == Some(429) && !api.is_quota_exhausted() =>
        {
            StatusCode::TOO_MANY_REQUESTS
        }
        ModelError::Client(ClientError::Timeout { .. }) => StatusCode::GATEWAY_TIMEOUT,
        ModelError::Client(ClientError::InvalidRequest(_)) => StatusCode::BAD_REQUEST,
        ModelError::Client(_) | ModelError::StructuredOutput { .. } => StatusCode::BAD_GATEWAY,
        ModelError::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
        // A variant added later: the server failed.
        #[allow(unreachable_patterns)]
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn hook_status(h: &HookError) -> StatusCode {
    if h.is_tripwire() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// How long the server asked the caller to wait, if it did.
fn retry_after(e: &ModelError) -> Option<Duration> {
    match e {
        ModelError::Throttled(api) => api.retry_after,
        ModelError::Client(ClientError::Api(api)) => api.retry_after,
        _ => None,
    }
}

/// The JSON body of an error: the message safe to show a user, and the
/// status as a code.
fn error_body(e: &ModelError, status: StatusCode) -> serde_json::Value {
    json!({"error": {"message": e.public_message(), "code": status.as_u16()}})
}

/// The response for an error before any event: `status_of`'s status,
/// `Retry-After` when the server gave one, and a JSON body with the
/// message safe to show a user.
pub fn error_response(e: &ModelError, status_of: StatusOf) -> Response {
    let status = status_of(e);
    let mut response = (status, axum::Json(error_body(e, status))).into_response();
    // A wait only means something where the status says to wait.
    if let Some(wait) = retry_after(e).filter(|_| status == StatusCode::TOO_MANY_REQUESTS) {
        // Whole seconds, rounded up, as `Retry-After` takes them.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    response
}

/// A model's event stream, served as Server-Sent Events; see the
/// [module docs](self).
pub struct ModelSse<S> {
    events: S,
    status_of: StatusOf,
    reasoning: bool,
    keep_alive: Option<Duration>,
}

impl<S> ModelSse<S>
where
    S: Stream<Item = Result<StreamEvent, ModelError>> + Send + 'static,
{
    /// Serves `events` with the default status mapping, no reasoning, and
    /// a keep-alive comment every 15 seconds of silence.
    pub fn new(events: S) -> Self {
        Self {
            events,
            status_of,
            reasoning: false,
            keep_alive: Some(Duration::from_secs(15)),
        }
    }

    /// Maps errors to statuses with `f` instead of [`status_of`].
    pub fn status(mut self, f: StatusOf) -> Self {
        self.status_of = f;
        self
    }

    /// Whether reasoning deltas are sent (`event: reasoning`); off by
    /// default: a model's reasoning is seldom for end users.
    pub fn reasoning(mut self, on: bool) -> Self {
        self.reasoning = on;
        self
    }

    /// The longest silence before a keep-alive comment; `None` (or zero)
    /// for none.
    pub fn keep_alive(mut self, every: Option<Duration>) -> Self {
        // Zero would be a comment on every poll of the body.
        self.keep_alive = every.filter(|d| !d.is_zero());
        self
    }

    /// Waits for the first event: an error there is the response (a
    /// status and a JSON body); otherwise the response is the event
    /// stream.
    pub async fn into_response(self) -> Response {
        let Self {
            events,
            status_of,
            reasoning,
            keep_alive,
        } = self;
        let mut events = Box::pin(events);
        let first = match events.next().await {
            Some(Err(e)) => return error_response(&e, status_of),
            first => first,
        };
        let mut writer = Writer {
            reasoning,
            status_of,
            tool: None,
            ended: false,
            after_cr: false,
        };
        // The body ends at the first error, whether or not the stream does;
        // the stream is dropped there.
        let rest = futures::stream::iter(first).chain(events);
        let until_error = futures::stream::unfold(Some(rest), |rest| async move {
            let mut rest = rest?;
            let item = rest.next().await?;
            let rest = item.is_ok().then_some(rest);
            Some((item, rest))
        });
        let sse_events = until_error
            .map(Some)
            .chain(futures::stream::once(async { None }))
            .flat_map(move |item| futures::stream::iter(writer.write(item)))
            .map(Ok::<_, Infallible>);
        let sse = Sse::new(sse_events);
        match keep_alive {
            Some(every) => sse
                .keep_alive(KeepAlive::new().interval(every))
                .into_response(),
            None => sse.into_response(),
        }
    }
}

/// Turns model events into SSE events.
struct Writer {
    reasoning: bool,
    status_of: StatusOf,
    /// The tool call being gathered: id, name, arguments so far.
    tool: Option<(String, String, String)>,
    /// Set after an error: nothing more is written.
    ended: bool,
    /// The last text sent ended with a CR: a LF opening the next is the
    /// rest of that line break.
    after_cr: bool,
}

/// `text` with its line breaks as SSE can carry them: a CRLF is one line
/// break (axum would split it into two `data:` lines, an empty line
/// between), and a lone CR, which no `data:` line can hold, a LF.
fn lines(text: &str, after_cr: &mut bool) -> String {
    let text = match text.strip_prefix('\n') {
        Some(rest) if *after_cr => rest,
        _ => text,
    };
    *after_cr = text.ends_with('\r');
    text.replace("\r\n", "\n").replace('\r', "\n")
}

impl Writer {
    /// The SSE events for one model event (`None`: the stream ended).
    fn write(&mut self, item: Option<Result<StreamEvent, ModelError>>) -> Vec<Event> {
        if self.ended {
            return Vec::new();
        }
        let event = match item {
            None => {
                self.ended = true;
                return vec![Event::default().event("done").data("[DONE]")];
            }
            Some(Err(e)) => {
                self.ended = true;
                let status = (self.status_of)(&e);
                let body = error_body(&e, status);
                return vec![Event::default().event("error").data(body.to_string())];
            }
            Some(Ok(event)) => event,
        };
        let after_cr = std::mem::take(&mut self.after_cr);
        match event {
            StreamEvent::ContentBlockDelta(
                BlockDelta::Text(t) | BlockDelta::Refusal(t) | BlockDelta::Reasoning(t),
            ) if t.is_empty() => {
                self.after_cr = after_cr;
                Vec::new()
            }
            StreamEvent::ContentBlockStart(BlockStart::ToolUse { id, name }) => {
                self.tool = Some((id, name, String::new()));
                Vec::new()
            }
            StreamEvent::ContentBlockDelta(BlockDelta::Text(t)) => {
                self.after_cr = after_cr;
                vec![Event::default().data(lines(&t, &mut self.after_cr))]
            }
            StreamEvent::ContentBlockDelta(BlockDelta::Refusal(t)) => {
                self.after_cr = after_cr;
                let t = lines(&t, &mut self.after_cr);
                vec![Event::default().event("refusal").data(t)]
            }
            StreamEvent::ContentBlockDelta(BlockDelta::Reasoning(t)) if self.reasoning => {
                self.after_cr = after_cr;
                let t = lines(&t, &mut self.after_cr);
                vec![Event::default().event("reasoning").data(t)]
            }
            StreamEvent::ContentBlockDelta(BlockDelta::ToolUseInput(t)) => {
                if let Some((_, _, args)) = self.tool.as_mut() {
                    args.push_str(&t);
                }
                Vec::new()
            }
            StreamEvent::ContentBlockStop => match self.tool.take() {
                Some((id, name, args)) => {
                    let input =
                        serde_json::from_str(&args).unwrap_or(serde_json::Value::String(args));
                    let data = json!({"id": id, "name": name, "input": input});
                    vec![Event::default().event("tool_use").data(data.to_string())]
                }
                None => Vec::new(),
            },
            StreamEvent::MessageStop { stop_reason } => {
                let reason = match &stop_reason {
                    StopReason::EndTurn => "end_turn",
                    StopReason::ToolUse => "tool_use",
                    StopReason::MaxTokens => "max_tokens",
                    StopReason::ContentFiltered => "content_filtered",
                    StopReason::Other(other) => other.as_str(),
                };
                vec![
                    Event::default()
                        .event("stop")
                        .data(json!({"reason": reason}).to_string()),
                ]
            }
            StreamEvent::Metadata { usage, metrics } => {
                let ms = |d: Duration| d.as_secs_f64() * 1000.0;
                let data = json!({
                    "input_tokens": usage.map(|u| u.input_tokens),
                    "output_tokens": usage.map(|u| u.output_tokens),
                    "total_tokens": usage.map(|u| u.total_tokens),
                    "cached_input_tokens": usage.and_then(|u| u.cached_input_tokens),
                    "latency_ms": ms(metrics.latency),
                    "time_to_first_token_ms": metrics.time_to_first_token.map(ms),
                });
                vec![Event::default().event("usage").data(data.to_string())]
            }
            _ => Vec::new(),
        }
    }
}
