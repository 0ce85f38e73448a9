//! `InputBudget`: stop requests that are too big before they are sent.

use serde_json::json;

use crate::guardrails::Guardrail;
use crate::guardrails::result::{GuardrailResult, record};
use crate::hooks::{HookContext, HookError, PreRequest, Stage};
use async_openai::types::responses::InputParam;

use crate::text::{Piece, walk_request, walk_responses_request};
use crate::types::ChatRequest;
use crate::types::responses::ResponsesRequest;

/// Stops a request whose messages exceed a budget, before it is sent (a
/// Chat Completions request, or a Responses one: its input items count as
/// messages, and `instructions` and tool outputs as text).
///
/// Counts the text of every message (all roles; string content and text and
/// refusal parts; images and audio are not counted). Characters are Unicode
/// scalar values. Tokens are *estimated* as characters / 4, rounded up:
/// OpenAI's rule of thumb for English, no tokenizer needed; it undercounts
/// code and most non-Latin scripts, so leave headroom or budget characters.
///
/// ```
/// use openai_hooks::guardrails::InputBudget;
///
/// let budget = InputBudget::new().max_chars(20_000).max_tokens(4_000).max_messages(50);
/// assert_eq!(InputBudget::estimate_tokens("twelve chars"), 3);
/// ```
#[derive(Debug, Clone, Default)]
pub struct InputBudget {
    max_chars: Option<usize>,
    max_tokens: Option<usize>,
    max_messages: Option<usize>,
}

impl InputBudget {
    /// No limits yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Most characters over all messages.
    pub fn max_chars(mut self, n: usize) -> Self {
        self.max_chars = Some(n);
        self
    }

    /// Most estimated tokens over all messages (characters / 4).
    pub fn max_tokens(mut self, n: usize) -> Self {
        self.max_tokens = Some(n);
        self
    }

    /// Most messages.
    pub fn max_messages(mut self, n: usize) -> Self {
        self.max_messages = Some(n);
        self
    }

    /// The token estimate for `text`: characters / 4, rounded up.
    pub fn estimate_tokens(text: &str) -> usize {
        text.chars().count().div_ceil(4)
    }

    /// Measures `req`: `(messages, characters, estimated tokens)`.
    pub fn measure(req: &ChatRequest) -> (usize, usize, usize) {
        let mut chars = 0;
        walk_request(req, |piece, t| {
            if counts(piece) {
                chars += t.chars().count();
            }
        });
        (req.messages.len(), chars, chars.div_ceil(4))
    }
}

/// Whether the budget counts `piece`: the content of every message, string
/// or parts, not an assistant's refusal field nor its tool-call arguments.
pub(crate) fn counts(piece: Piece) -> bool {
    piece.place.is_content()
}

impl Guardrail for InputBudget {
    fn name(&self) -> &'static str {
        "input_budget"
    }
    fn stages(&self) -> &'static [Stage] {
        &[Stage::PreRequest]
    }
}

impl InputBudget {
    /// [`measure`](Self::measure) for a Responses request: its input items
    /// (a string input is one), and the characters of `instructions`, every
    /// message's content and every tool output.
    pub fn measure_responses(req: &ResponsesRequest) -> (usize, usize, usize) {
        let mut chars = 0;
        let _ = walk_responses_request(req, |piece, t| {
            if counts(piece) {
                chars += t.chars().count();
            }
            Ok::<_, std::convert::Infallible>(())
        });
        let messages = match &req.input {
            InputParam::Text(_) => 1,
            InputParam::Items(items) => items.len(),
        };
        (messages, chars, chars.div_ceil(4))
    }

    /// Trips when a measure is over its limit; records the result either way.
    fn judge(
        &self,
        (messages, chars, tokens): (usize, usize, usize),
        cx: &mut HookContext,
    ) -> Result<(), HookError> {
        let over = [
            ("max_messages", self.max_messages, messages),
            ("max_chars", self.max_chars, chars),
            ("max_tokens", self.max_tokens, tokens),
        ]
        .into_iter()
        .find_map(|(limit, max, actual)| max.filter(|&m| actual > m).map(|m| (limit, m, actual)));
        let mut info = json!({
            "guardrail": "input_budget",
            "messages": messages,
            "chars": chars,
            "estimated_tokens": tokens,
        });
        if let Some((limit, max, actual)) = over {
            info["limit"] = limit.into();
            info["max"] = max.into();
            info["actual"] = actual.into();
        }
        record(
            cx,
            GuardrailResult {
                guardrail: "input_budget".into(),
                stage: Stage::PreRequest,
                tripped: over.is_some(),
                info: info.clone(),
            },
        );
        match over {
            Some((limit, max, actual)) => Err(HookError::tripwire(format!(
                "input over budget: {limit} is {max}, request has {actual}"
            ))
            .with_info(info)),
            None => Ok(()),
        }
    }
}

impl PreRequest for InputBudget {
    async fn pre_request(
        &self,
        req: &mut ChatRequest,
        cx: &mut HookContext,
    ) -> Result<(), HookError> {
        self.judge(Self::measure(req), cx)
    }
}

impl PreRequest<ResponsesRequest> for InputBudget {
    async fn pre_request(
        &self,
        req: &mut ResponsesRequest,
        cx: &mut HookContext,
    ) -> Result<(), HookError> {
        self.judge(Self::measure_responses(req), cx)
    }
}
