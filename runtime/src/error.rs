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
    /// The server's message, with any API key scrubbed out.
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

    /// Whether this is the server saying the prompt does not fit the model's
    /// context window (OpenAI's code, or one of the messages other servers use).
    pub fn is_context_window_overflow(&self) -> bool {
        if self.code.as_deref() == Some("context_length_exceeded") {
            return true;
        }
        const VARIANTS: [&str; 5] = [
            "maximum context length",
            "context length exceeded",
            "context_length_exceeded",
            "exceeds the context window",
            "input is too long for requested model",
        ];
        let lower = self.message.to_ascii_lowercase();
        VARIANTS.iter().any(|v| lower.contains(v))
    }

    /// Whether this is throttling (HTTP 429 or a `rate_limit` code).
    pub fn is_throttling(&self) -> bool {
        self.status == Some(429)
            || self.code.as_deref() == Some("429")
            || self.code.as_deref() == Some("rate_limit_exceeded")
    }
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
