//! The error every [`ChatClient`](crate::ChatClient) call returns.

use std::time::Duration;

use crate::hooks::{HookError, Tripwire};
use crate::types::WireError;

/// How many characters of an offending body an error keeps.
pub(crate) const SNIPPET_CHARS: usize = 512;

/// An error a server returned: HTTP status, OpenAI-style code and message.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status; `None` when the error arrived inside a `200` stream.
    pub status: Option<u16>,
    /// The error's machine-readable code (`context_length_exceeded`,
    /// `invalid_api_key`, `429`, ...).
    pub code: Option<String>,
    /// The error's type (`invalid_request_error`, ...).
    pub kind: Option<String>,
    /// The request parameter at fault.
    pub param: Option<String>,
    /// The server's message (the body's `error.message`, or the start of a
    /// body that has none), with any API key scrubbed out, cut to its
    /// first 512 characters. For logs: it can repeat the request; show an
    /// end user [`public_message`](Self::public_message).
    pub message: String,
    /// How long the server asked the caller to wait (`Retry-After`), when the
    /// transport could see the header.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub(crate) fn from_wire(status: Option<u16>, wire: WireError) -> Self {
        Self {
            status,
            code: wire.code,
            kind: wire.kind,
            param: wire.param,
            message: wire.message,
            retry_after: None,
        }
    }

    /// The error a server's error `body` states: its `error` object, or an
    /// `error` string (Ollama, some gateways); `None` when it has neither.
    /// The message is scrubbed by `clean` first, then cut to
    /// [`SNIPPET_CHARS`] (cutting first could leave a key too short to be
    /// recognised).
    pub(crate) fn from_body(
        status: Option<u16>,
        body: &str,
        clean: &dyn Fn(&str) -> String,
    ) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_str(body.trim_start()).ok()?;
        let mut api = match value.get("error")? {
            serde_json::Value::String(message) => Self::from_wire(
                status,
                WireError {
                    message: message.clone(),
                    ..WireError::default()
                },
            ),
            error @ serde_json::Value::Object(_) => {
                Self::from_wire(status, serde_json::from_value(error.clone()).ok()?)
            }
            _ => return None,
        };
        api.message = snippet(&clean(&api.message));
        Some(api)
    }

    /// As [`from_body`](Self::from_body), with the start of the body as the
    /// message when it states no error (a proxy's HTML page, plain text,
    /// JSON of another shape): every status reads the same way, the
    /// server's message when it sent one and a bounded snippet otherwise.
    pub(crate) fn from_body_or_snippet(
        status: Option<u16>,
        body: &str,
        clean: &dyn Fn(&str) -> String,
    ) -> Self {
        Self::from_body(status, body, clean).unwrap_or_else(|| Self {
            status,
            code: None,
            kind: None,
            param: None,
            message: snippet(&clean(body.trim())),
            retry_after: None,
        })
    }

    /// Whether this is the server saying the prompt does not fit the model's
    /// context window: OpenAI's and Azure's `context_length_exceeded` code,
    /// or the words vLLM, LiteLLM, OpenRouter, Groq, Ollama, Mistral,
    /// Bedrock, Anthropic and Gemini use. A
    /// message that is also throttling ("too many tokens per minute") is
    /// not an overflow.
    pub fn is_context_window_overflow(&self) -> bool {
        if self.code.as_deref() == Some("context_length_exceeded") {
            return true;
        }
        let lower = self.message.to_lowercase();
        OVERFLOW_PHRASES.iter().any(|v| lower.contains(v)) && !throttling_words(&lower)
    }

    /// Whether this is throttling, which waiting fixes: HTTP 429, a
    /// `rate_limit_exceeded`-style code or type, or a message that says so
    /// under another status (a `503` "Rate limit exceeded, please retry
    /// later.", a `400` "Too many requests in flight for this key.",
    /// Ollama's "server busy", Anthropic's `overloaded_error`). An exhausted quota or credit
    /// (`insufficient_quota`) is not throttling: waiting does not fix it,
    /// so it stays a plain API error.
    pub fn is_throttling(&self) -> bool {
        if self.is_quota_exhausted() {
            return false;
        }
        let codes = [self.code.as_deref(), self.kind.as_deref()];
        self.status == Some(429)
            || codes.iter().flatten().any(|c| {
                matches!(
                    *c,
                    "429"
                        | "rate_limit_exceeded"
                        | "rate_limit_error"
                        | "overloaded_error"
                        | "too_many_requests"
                        | "RESOURCE_EXHAUSTED"
                )
            })
            || throttling_words(&self.message.to_lowercase())
    }

    /// A short sentence safe to show an end user, by the kind of error:
    /// context overflow, throttling, a request the server refused, or a
    /// server failure. A fixed string: never the server's message or body
    /// (`Display` has them, for logs).
    pub fn public_message(&self) -> &'static str {
        if self.is_context_window_overflow() {
            "The conversation is too long for the model."
        } else if self.is_content_filtered() {
            "The request was blocked by a content policy."
        } else if self.is_throttling() {
            "The model service is busy. Please try again shortly."
        } else if self.is_quota_exhausted() {
            "The model service is not available right now."
        } else {
            match self.status {
                Some(401 | 403) => "The model service is not available right now.",
                Some(400..=499) => "The model service could not process the request.",
                _ => "The model service had an error. Please try again later.",
            }
        }
    }

    /// Whether a content filter refused the request or withheld the reply:
    /// Azure OpenAI's `content_filter` code (its body's `innererror` holds
    /// the categories, `ResponsibleAIPolicyViolation`).
    pub fn is_content_filtered(&self) -> bool {
        self.code.as_deref() == Some("content_filter")
            || self.message.contains("ResponsibleAIPolicyViolation")
    }

    /// Whether the account is out of quota or credit (`insufficient_quota`):
    /// sent as a `429` by OpenAI, but no wait fixes it.
    pub fn is_quota_exhausted(&self) -> bool {
        let codes = [self.code.as_deref(), self.kind.as_deref()];
        codes.iter().flatten().any(|c| *c == "insufficient_quota")
            || self.message.contains("insufficient_quota")
            || self
                .message
                .to_lowercase()
                .contains("exceeded your current quota")
    }
}

/// Words in an error message that mean the prompt does not fit the
/// model's context window, lowercase; each from a server's real message.
pub(crate) const OVERFLOW_PHRASES: &[&str] = &[
    // OpenAI, Azure, OpenRouter, vLLM (older), Mistral
    "maximum context length",
    "context length exceeded",
    "context_length_exceeded",
    "exceeds the context window",
    // vLLM: "The prompt (total length 9000) exceeds the max_model_len 8192."
    "max_model_len",
    // Anthropic through a gateway: "input length and `max_tokens` exceed
    // context limit: 190000 + 32000 > 200000"
    "exceed context limit",
    "input length and max_tokens exceed",
    // "Too many tokens: the request has 140000 tokens."
    "too many tokens",
    // "Input tokens exceed customer model maximum of 272000."
    "input tokens exceed",
    // Bedrock
    "input is too long for requested model",
    // Anthropic: "prompt is too long: 210000 tokens > 200000 maximum"
    "prompt is too long",
    // Groq: "Please reduce the length of the messages or completion."
    "reduce the length of the messages",
    // Ollama: "the input length exceeds the context length"
    "exceeds the context length",
    // Mistral: "... too large for model with 32768 maximum context length"
    "too large for model",
    // Gemini: "The input token count (N) exceeds the maximum number of
    // tokens allowed (M)."
    "exceeds the maximum number of tokens",
    // LiteLLM's exception name, kept in its messages
    "contextwindowexceedederror",
    "context window exceeded",
];

/// Words in an error message that mean throttling, lowercase.
pub(crate) const THROTTLING_PHRASES: &[&str] = &[
    "rate limit",
    "rate_limit",
    "ratelimit",
    "too many requests",
    "requests in flight",
    "tokens per min",
    "requests per min",
    "per minute",
    "server busy",
    "overloaded",
    "throttl",
    "slow down",
];

fn throttling_words(lower: &str) -> bool {
    THROTTLING_PHRASES.iter().any(|p| lower.contains(p))
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(status) => write!(f, "HTTP {status}")?,
            None => f.write_str("error in stream")?,
        }
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(param) = &self.param {
            write!(f, " [param: {param}]")?;
        }
        if let Some(wait) = self.retry_after {
            write!(f, " (retry after {:.3}s)", wait.as_secs_f64())?;
        }
        Ok(())
    }
}

/// What went wrong with a chat call.
///
/// No variant ever holds an API key: texts that came from a server or a
/// transport are scrubbed of the configured key and of anything shaped like
/// one before they are stored.
///
/// # Two registers
///
/// Every error of this crate has two texts:
///
/// - **`Display`, for operators and logs**: the hook, stage and reason of a
///   tripwire, the server's status, code and message, the transport's
///   error. Keys are scrubbed out of it and a server's message is cut to
///   512 characters, but a server's message can repeat parts of the
///   request, so it is not for end users.
/// - **`public_message()`, for end users**: a fixed sentence per kind of
///   failure (a `&'static str`), which therefore cannot carry a matched
///   term, a configured keyword or allow-list entry, a PII value, a secret,
///   a server's body or a key: [`ClientError::public_message`],
///   [`ApiError::public_message`], [`HookError::public_message`],
///   [`Tripwire::public_message`] and
///   [`ModelError::public_message`](crate::model::ModelError::public_message).
///
/// ```
/// use openai_hooks::{ClientError, HookError};
///
/// fn reply_to_user(result: Result<String, ClientError>) -> String {
///     match result {
///         Ok(text) => text,
///         Err(e) => {
///             tracing::warn!(error = %e, "model call failed"); // the detail, for logs
///             e.public_message().to_owned()
///         }
///     }
/// }
/// let stopped = ClientError::from(HookError::tripwire("a blocked keyword matched"));
/// assert_eq!(reply_to_user(Err(stopped)), "The request was blocked by a content policy.");
/// assert_eq!(reply_to_user(Err(ClientError::EmptyStream)), "The model service sent an empty reply.");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with an error (non-2xx status, or an `error`
    /// object inside a stream).
    #[error("{0}")]
    Api(ApiError),

    /// A hook stopped the call (tripwire) or failed.
    #[error(transparent)]
    Hook(#[from] HookError),

    /// The request never got an answer: connection refused or reset, DNS,
    /// TLS, an interrupted body.
    #[error("transport error: {message}")]
    Transport {
        /// What the transport said (URLs removed, secrets scrubbed).
        message: String,
    },

    /// The server sent something that is not the JSON it should be.
    #[error("could not decode {what}: {reason}; received: {snippet:?}")]
    Decode {
        /// What was being decoded (`response body`, `stream chunk`, ...).
        what: &'static str,
        /// Why it did not decode.
        reason: String,
        /// The start of the offending text.
        snippet: String,
    },

    /// The stream was malformed at the SSE level.
    #[error("malformed event stream: {0}")]
    Stream(String),

    /// The stream ended before every choice had finished (no `[DONE]`, no
    /// `finish_reason`): the reply is incomplete.
    #[error("stream ended before the reply finished ({chunks} chunks received)")]
    Truncated {
        /// How many chunks arrived before the end.
        chunks: u64,
    },

    /// The server accepted the request and sent nothing.
    #[error("the server sent an empty stream")]
    EmptyStream,

    /// A configured time limit ran out.
    #[error("timed out waiting for {what}{}", after.map(|d| format!(" after {d:?}")).unwrap_or_default())]
    Timeout {
        /// What was awaited (`response headers`, `next chunk`, ...).
        what: &'static str,
        /// The limit, when the layer that enforced it is known.
        after: Option<Duration>,
    },

    /// The request is invalid before it is sent.
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// The server's reply went past one of the client's limits on what it
    /// keeps in memory (the [limits table](crate::limits)); the call ends
    /// here instead of holding more.
    #[error("the reply went past the limit on {what} ({limit})")]
    LimitExceeded {
        /// Which limit (`choices per stream`, `bytes per event`, ...).
        what: &'static str,
        /// Its value.
        limit: u64,
    },
}

impl ClientError {
    /// A short sentence safe to show an end user, by the kind of failure: a
    /// fixed string, so it cannot carry a matched term, a configured
    /// keyword or allow-list entry, a PII value, a secret, a server's body
    /// or a key. `Display` has the detail, for logs.
    pub fn public_message(&self) -> &'static str {
        match self {
            Self::Api(e) => e.public_message(),
            Self::Hook(e) => e.public_message(),
            Self::Transport { .. } => "The model service could not be reached.",
            Self::Decode { .. } | Self::Stream(_) => {
                "The model service sent a reply that could not be read."
            }
            Self::Truncated { .. } => "The reply was cut off before it finished.",
            Self::EmptyStream => "The model service sent an empty reply.",
            Self::Timeout { .. } => "The model service took too long to reply.",
            Self::InvalidRequest(_) => "The request could not be sent.",
            Self::LimitExceeded { .. } => "The reply was too large to process.",
        }
    }

    /// The tripwire, when a hook stopped the call.
    pub fn tripwire(&self) -> Option<&Tripwire> {
        match self {
            Self::Hook(HookError::Tripwire(t)) => Some(t),
            _ => None,
        }
    }

    /// The server's error, when there was one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }

    /// HTTP status of a server error.
    pub fn status(&self) -> Option<u16> {
        self.api().and_then(|e| e.status)
    }

    pub(crate) fn decode(what: &'static str, reason: impl ToString, text: &str) -> Self {
        Self::Decode {
            what,
            reason: reason.to_string(),
            snippet: snippet(text),
        }
    }
}

/// The first [`SNIPPET_CHARS`] characters of `text`.
pub(crate) fn snippet(text: &str) -> String {
    match text.char_indices().nth(SNIPPET_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests;
