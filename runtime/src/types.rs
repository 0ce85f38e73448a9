//! Chat Completions wire types; the Responses API's are in [`responses`].
//!
//! Requests are async-openai's [`CreateChatCompletionRequest`](async_openai::types::chat::CreateChatCompletionRequest): its typed
//! builder serialises exactly what the OpenAI spec accepts.
//!
//! Responses and stream chunks are this crate's own types. async-openai's
//! response types are strict where real servers are loose: they reject an
//! Azure chunk that has no `delta`, a Groq reply whose `service_tier` is
//! `on_demand`, and they drop `reasoning_content` (DeepSeek, xAI, vLLM) and
//! `reasoning` (OpenRouter, Ollama) as well as the `error` object some gateways
//! put inside a chunk. The types here accept every recorded server in
//! `tests/fixtures`, keep those fields, and keep every field they do not name in
//! `extra`, so nothing a server sent is lost on the way to a hook or the caller.

pub mod azure;
pub mod responses;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The request body of `POST /chat/completions` (async-openai's type).
pub type ChatRequest = async_openai::types::chat::CreateChatCompletionRequest;

/// A request of either API, as hooks and [`HookContext`](crate::HookContext)
/// read it whatever the API.
pub trait ApiRequest {
    /// The model asked for (`""` when the request names none, as a
    /// Responses request with a stored prompt may).
    fn model_name(&self) -> &str;
}

impl ApiRequest for ChatRequest {
    fn model_name(&self) -> &str {
        &self.model
    }
}

impl ApiRequest for responses::ResponsesRequest {
    fn model_name(&self) -> &str {
        self.model.as_deref().unwrap_or_default()
    }
}

/// Fields a server sent that these types do not name (provider extras such as
/// Azure's `prompt_filter_results` or Groq's `x_groq`), kept as they came.
pub type Extra = Map<String, Value>;

/// Why a choice stopped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FinishReason {
    /// The model finished its turn (`stop`).
    Stop,
    /// The token limit was reached (`length`).
    Length,
    /// The model called one or more tools (`tool_calls`).
    ToolCalls,
    /// Output was withheld by a content filter (`content_filter`).
    ContentFilter,
    /// Legacy function call (`function_call`).
    FunctionCall,
    /// Any other value a server sent, kept verbatim.
    Other(String),
}

impl FinishReason {
    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
            Self::ContentFilter => "content_filter",
            Self::FunctionCall => "function_call",
            Self::Other(s) => s,
        }
    }

    fn from_wire(s: &str) -> Self {
        match s {
            "stop" => Self::Stop,
            "length" => Self::Length,
            "tool_calls" => Self::ToolCalls,
            "content_filter" => Self::ContentFilter,
            "function_call" => Self::FunctionCall,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl std::fmt::Display for FinishReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FinishReason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FinishReason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Self::from_wire(&s))
    }
}

/// Token counts for one call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens in the completion.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Total tokens as the server counted them (may exceed the sum).
    #[serde(default)]
    pub total_tokens: u64,
    /// Breakdown of prompt tokens (`cached_tokens`, `audio_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Breakdown of completion tokens (`reasoning_tokens`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// Provider extras (`prompt_cache_hit_tokens`, `cost`, timing fields, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Usage {
    /// Prompt tokens served from the provider's cache: OpenAI's
    /// `prompt_tokens_details.cached_tokens`, or DeepSeek's
    /// `prompt_cache_hit_tokens`.
    pub fn cached_tokens(&self) -> Option<u64> {
        self.prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens)
            .or_else(|| self.extra.get("prompt_cache_hit_tokens")?.as_u64())
    }

    /// Reasoning tokens, when the server reports them.
    pub fn reasoning_tokens(&self) -> Option<u64> {
        self.completion_tokens_details
            .as_ref()
            .and_then(|d| d.reasoning_tokens)
    }
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    /// Prompt tokens read from the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Other fields, as sent.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    /// Tokens spent on reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// Other fields, as sent.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An error object sent in a response body or inside a stream chunk.
///
/// `code` is text: some gateways send it as a number (`429`), which is kept as
/// its decimal spelling.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WireError {
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// The error's type (`invalid_request_error`, ...).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Machine-readable code (`context_length_exceeded`, `429`, ...).
    #[serde(
        default,
        deserialize_with = "code_as_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub code: Option<String>,
    /// The request parameter at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// Other fields, as sent (`metadata`, `failed_generation`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

fn code_as_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

/// A tool call as it streams: fragments keyed by `index`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    /// Which tool call of the message this fragment belongs to.
    #[serde(default)]
    pub index: u32,
    /// The call's id (first fragment; some servers repeat it, some send `""`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Always `function` today.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name and argument fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDelta>,
    /// Other fields, as sent.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Function name and a fragment of its JSON arguments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionDelta {
    /// The function's name (first fragment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A piece of the arguments' JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

/// What one chunk adds to a choice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// `assistant`, usually only on the first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// A piece of the reply text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// A piece of a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// A piece of reasoning (DeepSeek, xAI, vLLM spelling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// A piece of reasoning (OpenRouter, Ollama spelling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// Tool call fragments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    /// Other fields, as sent.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Delta {
    /// The reasoning fragment under either spelling.
    pub fn reasoning_text(&self) -> Option<&str> {
        self.reasoning_content
            .as_deref()
            .or(self.reasoning.as_deref())
    }
}

/// One choice inside a chunk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// The choice's index (`n > 1` interleaves them).
    #[serde(default)]
    pub index: u32,
    /// What this chunk adds. Azure sometimes omits it: then it is empty.
    #[serde(default)]
    pub delta: Delta,
    /// Set on the choice's last content chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// Token log-probabilities, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
    /// Other fields, as sent (`content_filter_results`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// One `chat.completion.chunk` of a streamed reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatChunk {
    /// Completion id (Azure's filter-result chunk sends `""`).
    #[serde(default)]
    pub id: String,
    /// `chat.completion.chunk`.
    #[serde(default)]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// Backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// Processing tier the request was served on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// Choices this chunk updates; empty on usage and filter-result chunks.
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Token counts, on the last chunk when `include_usage` was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// An error a gateway reported inside the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WireError>,
    /// Other fields, as sent.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatChunk {
    /// The text this chunk adds to choice 0, if any.
    pub fn content(&self) -> Option<&str> {
        self.choices.first()?.delta.content.as_deref()
    }
}

/// A tool call in a complete reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id, to answer with a tool message.
    #[serde(default)]
    pub id: String,
    /// Always `function` today.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The function called.
    #[serde(default)]
    pub function: FunctionCall,
    /// Other fields, as sent (DeepSeek's `index`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// Name and JSON arguments of a function call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The function's name.
    #[serde(default)]
    pub name: String,
    /// The arguments as JSON text.
    #[serde(default)]
    pub arguments: String,
}

/// The assistant message of a complete reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseMessage {
    /// `assistant`.
    #[serde(default)]
    pub role: String,
    /// The reply text (Groq omits it when calling tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// A refusal, in place of content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Reasoning (DeepSeek, xAI, vLLM spelling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Reasoning (OpenRouter, Ollama spelling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// Tools the model called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Other fields, as sent (`annotations`, `audio`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl ResponseMessage {
    /// Reasoning under either spelling.
    pub fn reasoning_text(&self) -> Option<&str> {
        self.reasoning_content
            .as_deref()
            .or(self.reasoning.as_deref())
    }
}

/// One choice of a complete reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// The choice's index.
    #[serde(default)]
    pub index: u32,
    /// The assistant message.
    #[serde(default)]
    pub message: ResponseMessage,
    /// Why it stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// Token log-probabilities, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
    /// Other fields, as sent (`content_filter_results`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// A complete `chat.completion` reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// Completion id.
    #[serde(default)]
    pub id: String,
    /// `chat.completion`.
    #[serde(default)]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// The choices (one unless `n > 1`).
    #[serde(default)]
    pub choices: Vec<Choice>,
    /// Token counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// Processing tier the request was served on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// Other fields, as sent.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatResponse {
    /// The text of choice 0, if any.
    pub fn content(&self) -> Option<&str> {
        self.choices.first()?.message.content.as_deref()
    }
}
