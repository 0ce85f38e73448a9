//! A hook that traces every call with the OpenTelemetry GenAI attribute
//! names.
//!
//! One [`Telemetry`] value is a pre-request, a chunk and a post-response
//! hook: the pre-request stage opens a `chat {model}` span and keeps it in the
//! call's [`HookContext`]; the later stages record the reply's model, id,
//! finish reasons, token usage, time to first token and duration on it. The
//! span closes when the call ends (the reply returned, or the stream dropped),
//! so its own duration is the call's. At the end an event `gen_ai.client.operation`
//! carries the same figures as `histogram.*` fields, which a metrics layer
//! such as `tracing-opentelemetry`'s turns into metrics.
//!
//! With no subscriber listening, `tracing` reports the span disabled,
//! nothing is stored in the context, and each later stage costs a branch
//! (measured: `cargo bench -p openai-hooks-bench --bench hot_paths --
//! telemetry`).
//!
//! ```
//! use openai_hooks::{openai_client, telemetry::Telemetry};
//! use openai_hooks::async_openai::{Client, config::OpenAIConfig};
//!
//! #[openai_client]
//! struct Traced {
//!     #[inner]
//!     client: Client<OpenAIConfig>,
//!     #[pre_request]
//!     start: Telemetry,
//!     #[on_chunk]
//!     chunks: Telemetry,
//!     #[post_response]
//!     finish: Telemetry,
//! }
//!
//! let telemetry = Telemetry::new().system("openai");
//! let client = Traced {
//!     client: Client::with_config(OpenAIConfig::new()),
//!     start: telemetry.clone(),
//!     chunks: telemetry.clone(),
//!     finish: telemetry,
//! };
//! # drop(client);
//! ```

use std::borrow::Cow;
use std::time::Instant;

use tracing::Span;
use tracing::field::Empty;

use crate::hooks::{ChunkAction, HookContext, HookError, OnChunk, PostResponse, PreRequest};
use crate::types::{ChatChunk, ChatRequest, ChatResponse, Usage};

/// Traces calls; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Telemetry {
    system: Cow<'static, str>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// Traces with `gen_ai.system = "openai"`.
    pub fn new() -> Self {
        Self {
            system: Cow::Borrowed("openai"),
        }
    }

    /// The `gen_ai.system` value: `openai`, `azure.ai.openai`, `vllm`, ...
    pub fn system(mut self, system: impl Into<Cow<'static, str>>) -> Self {
        self.system = system.into();
        self
    }
}

/// The span of one call, kept in the call's context.
#[derive(Clone)]
struct CallSpan(Span);

impl PreRequest for Telemetry {
    async fn pre_request(
        &self,
        req: &mut ChatRequest,
        cx: &mut HookContext,
    ) -> Result<(), HookError> {
        let span = tracing::info_span!(
            target: "openai_hooks::telemetry",
            "chat",
            otel.name = %format_args!("chat {}", req.model),
            otel.kind = "client",
            gen_ai.operation.name = "chat",
            gen_ai.system = %self.system,
            gen_ai.request.model = %req.model,
            gen_ai.request.max_tokens = Empty,
            gen_ai.request.temperature = Empty,
            gen_ai.request.top_p = Empty,
            gen_ai.response.model = Empty,
            gen_ai.response.id = Empty,
            gen_ai.response.finish_reasons = Empty,
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
            openai_hooks.request_id = %cx.request_id(),
            openai_hooks.stream = cx.is_streaming(),
            openai_hooks.time_to_first_token_ms = Empty,
            openai_hooks.duration_ms = Empty,
        );
        // With nobody listening, nothing is kept: the later stages find no
        // span and return at once.
        if span.is_disabled() {
            return Ok(());
        }
        #[allow(deprecated)] // `max_tokens` is still what many servers read
        if let Some(n) = req.max_completion_tokens.or(req.max_tokens) {
            span.record("gen_ai.request.max_tokens", n);
        }
        if let Some(t) = req.temperature {
            span.record("gen_ai.request.temperature", widen(t));
        }
        if let Some(p) = req.top_p {
            span.record("gen_ai.request.top_p", widen(p));
        }
        cx.extensions_mut().insert(CallSpan(span));
        Ok(())
    }
}

/// An `f32` request parameter as the `f64` a reader expects: `0.2`, not
/// `0.20000000298023224` (six decimals are more than any sampler reads).
fn widen(x: f32) -> f64 {
    (f64::from(x) * 1e6).round() / 1e6
}

/// Records the end of a call on its span and emits the metrics event.
fn finish(
    cx: &HookContext,
    model: &str,
    id: &str,
    reasons: &[String],
    usage: Option<&Usage>,
    ttft_ms: Option<f64>,
) {
    let Some(CallSpan(span)) = cx.extensions().get::<CallSpan>() else {
        return;
    };
    if span.is_disabled() {
        return;
    }
    let duration_ms = cx.started().elapsed().as_secs_f64() * 1e3;
    span.record("gen_ai.response.model", model);
    span.record("gen_ai.response.id", id);
    span.record("gen_ai.response.finish_reasons", format!("{reasons:?}"));
    span.record("openai_hooks.duration_ms", duration_ms);
    if let Some(ms) = ttft_ms {
        span.record("openai_hooks.time_to_first_token_ms", ms);
    }
    let (input, output) = usage.map_or((None, None), |u| {
        (Some(u.prompt_tokens), Some(u.completion_tokens))
    });
    if let Some(n) = input {
        span.record("gen_ai.usage.input_tokens", n);
    }
    if let Some(n) = output {
        span.record("gen_ai.usage.output_tokens", n);
    }
    tracing::event!(
        target: "openai_hooks::telemetry",
        parent: span,
        tracing::Level::INFO,
        { "histogram.gen_ai.client.operation.duration" } = duration_ms / 1e3,
        { "histogram.gen_ai.client.token.usage.input" } = input,
        { "histogram.gen_ai.client.token.usage.output" } = output,
        { "histogram.gen_ai.server.time_to_first_token" } = ttft_ms.map(|ms| ms / 1e3),
        gen_ai.response.model = model,
        "gen_ai.client.operation"
    );
}

impl PostResponse for Telemetry {
    async fn post_response(
        &self,
        resp: &mut ChatResponse,
        cx: &mut HookContext,
    ) -> Result<(), HookError> {
        let reasons: Vec<String> = resp
            .choices
            .iter()
            .filter_map(|c| c.finish_reason.as_ref().map(|r| r.as_str().to_owned()))
            .collect();
        finish(
            cx,
            &resp.model,
            &resp.id,
            &reasons,
            resp.usage.as_ref(),
            None,
        );
        Ok(())
    }
}

/// What the chunk stage gathers over one stream.
#[derive(Debug, Default)]
pub struct StreamTrace {
    /// Whether a subscriber listens to this call's span; read on the first
    /// chunk so later chunks cost one branch when nobody listens.
    enabled: Option<bool>,
    first_chunk_at: Option<Instant>,
    model: String,
    id: String,
    finish_reasons: Vec<String>,
    usage: Option<Usage>,
}

impl OnChunk for Telemetry {
    type State = StreamTrace;

    fn on_chunk(
        &self,
        chunk: &mut ChatChunk,
        trace: &mut StreamTrace,
        cx: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        let enabled = *trace.enabled.get_or_insert_with(|| {
            cx.extensions()
                .get::<CallSpan>()
                .is_some_and(|CallSpan(span)| !span.is_disabled())
        });
        if !enabled {
            return Ok(ChunkAction::Pass);
        }
        // Time to first token: the first chunk that carries any output.
        if trace.first_chunk_at.is_none()
            && chunk.choices.iter().any(|c| {
                c.delta.content.as_deref().is_some_and(|t| !t.is_empty())
                    || c.delta.reasoning_text().is_some_and(|t| !t.is_empty())
                    || c.delta.refusal.is_some()
                    || c.delta.tool_calls.is_some()
            })
        {
            trace.first_chunk_at = Some(Instant::now());
        }
        if trace.model.is_empty() && !chunk.model.is_empty() {
            trace.model.clone_from(&chunk.model);
            trace.id.clone_from(&chunk.id);
        }
        for choice in &chunk.choices {
            if let Some(reason) = &choice.finish_reason {
                trace.finish_reasons.push(reason.as_str().to_owned());
            }
        }
        if let Some(usage) = &chunk.usage {
            trace.usage = Some(usage.clone());
        }
        Ok(ChunkAction::Pass)
    }

    fn on_end(
        &self,
        trace: &mut StreamTrace,
        cx: &HookContext,
    ) -> Result<Option<ChatChunk>, HookError> {
        if trace.enabled != Some(true) {
            return Ok(None);
        }
        let ttft = trace
            .first_chunk_at
            .map(|at| at.duration_since(cx.started()).as_secs_f64() * 1e3);
        finish(
            cx,
            &trace.model,
            &trace.id,
            &trace.finish_reasons,
            trace.usage.as_ref(),
            ttft,
        );
        Ok(None)
    }
}
