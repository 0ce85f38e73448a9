//! What a model call can fail with, sorted the way an agent loop reacts.

use std::time::Duration;

use crate::client::{ApiError, ClientError};
use crate::hooks::HookError;

/// Why structured output could not be produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StructuredFailure {
    /// The model refused.
    Refusal,
    /// The reply had several choices; which one is meant is unclear.
    SeveralChoices,
    /// The reply had no text.
    NoContent,
    /// The text is not JSON of the requested type.
    Parse,
    /// The reply was cut off (`finish_reason: length`) before the JSON ended.
    Truncated,
}

/// An error from [`OpenAIModel`](super::OpenAIModel).
///
/// `Display` is the detail, for logs (a structured-output failure quotes
/// the model's raw reply); [`public_message`](Self::public_message) is the
/// sentence to show an end user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The prompt does not fit the model's context window: the agent loop
    /// should shorten the conversation and retry.
    #[error("context window overflow: {}", .0.message)]
    ContextWindowOverflow(Box<ApiError>),

    /// The server is throttling: wait (`retry_after`, when the server said)
    /// and retry.
    #[error("throttled: {}", .0)]
    Throttled(Box<ApiError>),

    /// The server's content filter refused the prompt (Azure OpenAI's
    /// `content_filter`): retrying the same prompt gets the same answer.
    #[error("content filtered: {}", .0)]
    ContentFiltered(Box<ApiError>),

    /// A hook stopped the call with a tripwire or failed; its name, stage,
    /// reason and details are in the [`HookError`].
    #[error(transparent)]
    Hook(HookError),

    /// Any other failure of the call: API error with status, code and
    /// message, transport, decoding, truncated stream, timeout.
    #[error(transparent)]
    Client(ClientError),

    /// The request could not be built (a `params` field of the wrong type,
    /// say).
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// The model was configured inconsistently, or a client could not be
    /// made from the configuration.
    #[error("model configuration: {0}")]
    Config(String),

    /// Structured output failed; `raw` is the text the model sent.
    #[error("structured output failed ({kind:?}): {reason}; raw reply: {raw:?}")]
    StructuredOutput {
        /// What went wrong.
        kind: StructuredFailure,
        /// Why, in words.
        reason: String,
        /// The reply text (or refusal) as sent.
        raw: String,
    },
}

impl ModelError {
    /// A short sentence safe to show an end user, by the kind of failure: a
    /// fixed string, never a server's message, a tripwire's reason or the
    /// model's raw reply. `Display` has the detail, for logs (see
    /// [`ClientError::public_message`]).
    pub fn public_message(&self) -> &'static str {
        match self {
            ModelError::ContextWindowOverflow(api)
            | ModelError::Throttled(api)
            | ModelError::ContentFiltered(api) => api.public_message(),
            ModelError::Hook(e) => e.public_message(),
            ModelError::Client(e) => e.public_message(),
            ModelError::InvalidRequest(_) => "The request could not be sent.",
            ModelError::Config(_) => "The model is not available right now.",
            ModelError::StructuredOutput {
                kind: StructuredFailure::Refusal,
                ..
            } => "The model declined to answer.",
            ModelError::StructuredOutput { .. } => {
                "The model's reply was not in the expected format."
            }
        }
    }

    /// How long the server asked to wait, for throttling.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ModelError::Throttled(api) => api.retry_after,
            _ => None,
        }
    }

    /// Whether a hook's tripwire (not a failure) stopped the call.
    pub fn is_tripwire(&self) -> bool {
        matches!(self, ModelError::Hook(e) if e.is_tripwire())
    }
}

impl From<ClientError> for ModelError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Api(api) if api.is_context_window_overflow() => {
                ModelError::ContextWindowOverflow(Box::new(api))
            }
            ClientError::Api(api) if api.is_content_filtered() => {
                ModelError::ContentFiltered(Box::new(api))
            }
            ClientError::Api(api) if api.is_throttling() => ModelError::Throttled(Box::new(api)),
            ClientError::Hook(hook) => ModelError::Hook(hook),
            other => ModelError::Client(other),
        }
    }
}
