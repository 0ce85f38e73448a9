//! Responses API wire types (`POST /v1/responses`).
//!
//! Requests are async-openai's [`CreateResponse`](async_openai::types::responses::CreateResponse),
//! whose typed builder serialises what the OpenAI spec accepts.
//!
//! Replies and stream events are this crate's own types, lenient where
//! async-openai's are strict: its `ResponseStreamEvent` is a closed enum that
//! rejects an event type it does not know, so one new event from a server
//! (or a gateway's own) would end the stream. Here an event is one struct
//! whatever its `type`: an unknown event decodes, keeps every field, and
//! passes through to hooks and the caller. `sequence_number` is optional
//! (several compatible servers omit it), and every field these types do not
//! name is kept in `extra`.
//!
//! | type | what it is |
//! |---|---|
//! | [`Response`] | the response object: a complete reply, and the payload of `response.created`, `.completed`, `.incomplete`, `.failed` |
//! | [`OutputItem`] | one item of `output`: a message, a function call, reasoning, a built-in tool call, ... |
//! | [`OutputContent`] | one part of an item: `output_text` (with annotations), `refusal`, `reasoning_text`, `summary_text` |
//! | [`ResponseEvent`] | one server-sent event of a stream |
//! | [`ResponseUsage`] | token counts |

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::{Extra, WireError};

/// The request body of `POST /responses` (async-openai's type).
pub type ResponsesRequest = async_openai::types::responses::CreateResponse;

/// Where a response stands (`status`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResponseStatus {
    /// The model finished (`completed`).
    Completed,
    /// It stopped early; `incomplete_details` says why (`incomplete`).
    Incomplete,
    /// It failed; `error` says why (`failed`).
    Failed,
    /// Still being generated (`in_progress`).
    InProgress,
    /// Waiting to start (`queued`, background mode).
    Queued,
    /// Cancelled (`cancelled`, background mode).
    Cancelled,
    /// Any other value a server sent, kept verbatim.
    Other(String),
}

impl ResponseStatus {
    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Completed => "completed",
            Self::Incomplete => "incomplete",
            Self::Failed => "failed",
            Self::InProgress => "in_progress",
            Self::Queued => "queued",
            Self::Cancelled => "cancelled",
            Self::Other(s) => s,
        }
    }

    fn from_wire(s: &str) -> Self {
        match s {
            "completed" => Self::Completed,
            "incomplete" => Self::Incomplete,
            "failed" => Self::Failed,
            "in_progress" => Self::InProgress,
            "queued" => Self::Queued,
            "cancelled" => Self::Cancelled,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl std::fmt::Display for ResponseStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ResponseStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ResponseStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Self::from_wire(&s))
    }
}

/// Token counts of a response (a count sent as `null` reads as absent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseUsage {
    /// Tokens of the input (instructions, items, tools).
    #[serde(default)]
    pub input_tokens: Option<u64>,
    /// Tokens generated, reasoning included.
    #[serde(default)]
    pub output_tokens: Option<u64>,
    /// Their sum.
    #[serde(default)]
    pub total_tokens: Option<u64>,
    /// `input_tokens_details` (`cached_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens_details: Option<TokenDetails>,
    /// `output_tokens_details` (`reasoning_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens_details: Option<TokenDetails>,
    /// Other fields, as sent.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ResponseUsage {
    /// Input tokens served from the prompt cache.
    pub fn cached_tokens(&self) -> Option<u64> {
        self.input_tokens_details.as_ref()?.cached_tokens
    }

    /// Output tokens spent on reasoning.
    pub fn reasoning_tokens(&self) -> Option<u64> {
        self.output_tokens_details.as_ref()?.reasoning_tokens
    }
}

/// `input_tokens_details` or `output_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenDetails {
    /// Input tokens served from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Output tokens spent on reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// Other fields, as sent.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Why a response is `incomplete`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IncompleteDetails {
    /// `max_output_tokens` or `content_filter` (or what a server sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Other fields, as sent.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A citation or other note attached to a span of `output_text`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    /// `url_citation`, `file_citation`, `container_file_citation`, ...
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The cited URL (`url_citation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The cited page's title (`url_citation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Other fields, as sent (`start_index`, `file_id`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// One part of an output item's `content` (or a reasoning item's
/// `summary`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputContent {
    /// `output_text`, `refusal`, `reasoning_text`, `summary_text`, ...
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The text of `output_text`, `reasoning_text` and `summary_text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The text of a `refusal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Citations in `output_text`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation>,
    /// Other fields, as sent (`logprobs`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// One item of a response's `output`.
///
/// One struct for every item type: the fields each type uses are set, the
/// rest are empty, and anything else the item carries is in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputItem {
    /// `message`, `function_call`, `reasoning`, `custom_tool_call`,
    /// `web_search_call`, `file_search_call`, ...
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The item's id (`msg_…`, `fc_…`, `rs_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `in_progress`, `completed`, `incomplete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `assistant`, on a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// A message's parts, or a reasoning item's `reasoning_text` parts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<OutputContent>,
    /// A reasoning item's `summary_text` parts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub summary: Vec<OutputContent>,
    /// The id that ties a function or custom tool call to its output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// The function or custom tool called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A function call's JSON arguments, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
    /// A custom tool call's free-form input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// Other fields, as sent (`action`, `encrypted_content`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl OutputItem {
    /// The text of a message's `output_text` parts, joined.
    pub fn output_text(&self) -> String {
        self.content
            .iter()
            .filter(|c| c.kind == "output_text")
            .filter_map(|c| c.text.as_deref())
            .collect()
    }
}

/// The response object: a complete reply to `create`, and what the
/// lifecycle events of a stream carry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// `resp_…`.
    #[serde(default)]
    pub id: String,
    /// `response`.
    #[serde(default)]
    pub object: String,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<f64>,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// Where it stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ResponseStatus>,
    /// What the model produced, in order.
    #[serde(default)]
    pub output: Vec<OutputItem>,
    /// Token counts (on the completed response).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<ResponseUsage>,
    /// Why it failed (`status: failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WireError>,
    /// Why it stopped early (`status: incomplete`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete_details: Option<IncompleteDetails>,
    /// Other fields, as sent (`instructions`, `tools`, `reasoning`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Response {
    /// The text of every message's `output_text` parts, joined: what
    /// OpenAI's SDKs call `output_text`.
    pub fn output_text(&self) -> String {
        self.output
            .iter()
            .filter(|i| i.kind == "message")
            .map(OutputItem::output_text)
            .collect()
    }
}

/// Why a failed response failed: its `error`, or a plain message when the
/// server sent none.
pub(crate) fn failure(response: Option<&Response>) -> WireError {
    response
        .and_then(|r| r.error.clone())
        .unwrap_or_else(|| WireError {
            message: "the response failed".to_owned(),
            ..WireError::default()
        })
}

/// One server-sent event of a Responses stream.
///
/// One struct for every event type (`kind` is the wire `type`): the fields
/// an event uses are set, the rest empty, anything else in `extra`. An event
/// type this crate does not know is read the same way and passed on.
///
/// | events | fields |
/// |---|---|
/// | `response.created`, `.in_progress`, `.completed`, `.incomplete`, `.failed` | `response` |
/// | `response.output_item.added`, `.done` | `output_index`, `item` |
/// | `response.content_part.added`, `.done`; `response.reasoning_summary_part.added`, `.done` | `item_id`, `output_index`, `content_index` or `summary_index`, `part` |
/// | `response.output_text.delta`, `response.refusal.delta`, `response.reasoning_text.delta`, `response.reasoning_summary_text.delta`, `response.function_call_arguments.delta`, `response.custom_tool_call_input.delta` | `item_id`, `output_index`, `delta` (text) |
/// | the matching `.done` events | `text`, `refusal` or `arguments` (the whole value) |
/// | `response.output_text.annotation.added` | `annotation` (in `extra`) |
/// | `error` | `code`, `message`, `param` |
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseEvent {
    /// The event's `type` (`response.output_text.delta`, ...).
    #[serde(default, rename = "type")]
    pub kind: String,
    /// Its place in the stream, when the server numbers events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<u64>,
    /// The response, on lifecycle events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
    /// The output item the event is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_index: Option<u32>,
    /// The item's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    /// The part of the item's `content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_index: Option<u32>,
    /// The part of a reasoning item's `summary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_index: Option<u32>,
    /// The item, on `response.output_item.added` and `.done`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<OutputItem>,
    /// The part, on `*.part.added` and `.done`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<OutputContent>,
    /// What a `*.delta` event adds: text for text, refusal, reasoning and
    /// argument deltas (see [`delta_text`](Self::delta_text)); an object on
    /// a few tool events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<Value>,
    /// The whole text, on `response.output_text.done` and the reasoning
    /// `.done` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The whole refusal, on `response.refusal.done`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// The whole arguments, on `response.function_call_arguments.done`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
    /// The error code, on `error`.
    #[serde(
        default,
        deserialize_with = "super::code_as_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub code: Option<String>,
    /// The error message, on `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The parameter at fault, on `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// Other fields, as sent (`obfuscation`, `logprobs`, `annotation`, a
    /// gateway's nested `error` object, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl ResponseEvent {
    /// The text a `*.delta` event adds, when its delta is text.
    pub fn delta_text(&self) -> Option<&str> {
        self.delta.as_ref()?.as_str()
    }

    /// Whether the event ends the response: `response.completed`,
    /// `.incomplete`, `.failed`, `error`, or an event with no `type` that
    /// carries an `error` object (as some gateways send).
    pub fn is_terminal(&self) -> bool {
        match self.kind.as_str() {
            "response.completed" | "response.incomplete" | "response.failed" | "error" => true,
            "" => self.nested_error().is_some(),
            _ => false,
        }
    }

    /// The error this event reports: the `error` event's fields (or the
    /// nested `error` object some gateways send), or a failed response's
    /// `error`. `None` for any other event.
    pub fn error(&self) -> Option<WireError> {
        match self.kind.as_str() {
            "error" => Some(match self.nested_error() {
                Some(mut wire) => {
                    wire.code = wire.code.or_else(|| self.code.clone());
                    wire
                }
                None => WireError {
                    message: self.message.clone().unwrap_or_default(),
                    kind: None,
                    code: self.code.clone(),
                    param: self.param.clone(),
                    extra: Extra::new(),
                },
            }),
            "" => self.nested_error(),
            "response.failed" => Some(failure(self.response.as_ref())),
            _ => None,
        }
    }

    /// An `error` object nested in the event, if it has one that reads as
    /// an error.
    fn nested_error(&self) -> Option<WireError> {
        let nested = self.extra.get("error").filter(|e| e.is_object())?;
        WireError::deserialize(nested).ok()
    }
}
