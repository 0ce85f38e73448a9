//! What a hook returns when it stops or fails a call.

use std::borrow::Cow;

use serde_json::Value;

use super::Stage;

/// Boxed error a failing hook reports.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A hook's decision to stop a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Tripwire {
    /// The hook that tripped (its field or method name, or the name it was
    /// given).
    pub hook: Cow<'static, str>,
    /// Where it tripped.
    pub stage: Stage,
    /// Why, for operators: it is part of the tripwire's `Display`, which
    /// goes to logs. The built-in guardrails never put a matched value or a
    /// configured term here; a hook of your own should not either. Show an
    /// end user [`public_message`](Self::public_message) instead.
    pub reason: String,
    /// Structured details for programs (counts, entity types, scores, the
    /// guardrail's name, ...). The built-in guardrails never put a matched
    /// value or a configured term here.
    pub info: Value,
}

impl Tripwire {
    /// A short sentence safe to show an end user: that a check stopped the
    /// request (pre-request) or the reply (any later stage). A fixed
    /// string, so it cannot carry anything that was matched or configured;
    /// `Display` (hook, stage, reason) is for logs.
    pub fn public_message(&self) -> &'static str {
        match self.stage {
            Stage::PreRequest => "The request was blocked by a content policy.",
            Stage::PostResponse | Stage::Chunk | Stage::StreamEnd => {
                "The reply was blocked by a content policy."
            }
        }
    }
}

impl std::fmt::Display for Tripwire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "hook `{}` stopped the call at {}: {}",
            self.hook, self.stage, self.reason
        )
    }
}

/// What a hook returns when it does not let a call go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// The hook decided to stop the call.
    #[error("{0}")]
    Tripwire(Box<Tripwire>),
    /// The hook could not do its job.
    #[error("hook `{hook}` failed at {stage}: {source}")]
    Failed {
        /// The hook that failed.
        hook: Cow<'static, str>,
        /// Where it failed.
        stage: Stage,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// The hook panicked; the panic was caught at the hook boundary and the
    /// client keeps serving other calls.
    #[error("hook `{hook}` panicked at {stage}: {message}")]
    Panicked {
        /// The hook that panicked.
        hook: Cow<'static, str>,
        /// Where.
        stage: Stage,
        /// The panic's message, when it had one.
        message: String,
    },
}

impl HookError {
    /// Stops the call. The hook's name and stage are filled in by the runner.
    ///
    /// ```
    /// use openai_hooks::HookError;
    /// let err = HookError::tripwire("competitor named")
    ///     .with_info(serde_json::json!({"matches": 1}));
    /// assert!(matches!(err, HookError::Tripwire(_)));
    /// ```
    pub fn tripwire(reason: impl Into<String>) -> Self {
        Self::Tripwire(Box::new(Tripwire {
            hook: Cow::Borrowed(""),
            stage: Stage::PreRequest,
            reason: reason.into(),
            info: Value::Null,
        }))
    }

    /// Reports that the hook could not do its job.
    pub fn failed(source: impl Into<BoxError>) -> Self {
        Self::Failed {
            hook: Cow::Borrowed(""),
            stage: Stage::PreRequest,
            source: source.into(),
        }
    }

    /// Adds structured details to a tripwire (ignored on other kinds).
    pub fn with_info(mut self, info: Value) -> Self {
        if let Self::Tripwire(t) = &mut self {
            t.info = info;
        }
        self
    }

    /// A short sentence safe to show an end user: the tripwire's
    /// [`public_message`](Tripwire::public_message), or that a check could
    /// not be completed (a failure or a panic, whose `Display` may quote the
    /// failing call's error). A fixed string; `Display` is for logs.
    pub fn public_message(&self) -> &'static str {
        match self {
            Self::Tripwire(t) => t.public_message(),
            Self::Failed { .. } | Self::Panicked { .. } => "A safety check could not be completed.",
        }
    }

    /// Whether this is a tripwire.
    pub fn is_tripwire(&self) -> bool {
        matches!(self, Self::Tripwire(_))
    }

    /// The hook this error names.
    pub fn hook(&self) -> &str {
        match self {
            Self::Tripwire(t) => &t.hook,
            Self::Failed { hook, .. } | Self::Panicked { hook, .. } => hook,
        }
    }

    /// The stage this error names.
    pub fn stage(&self) -> Stage {
        match self {
            Self::Tripwire(t) => t.stage,
            Self::Failed { stage, .. } | Self::Panicked { stage, .. } => *stage,
        }
    }

    /// Names the hook and stage, unless the hook named them itself.
    pub(crate) fn attribute(mut self, name: &'static str, at: Stage) -> Self {
        match &mut self {
            Self::Tripwire(t) => {
                if t.hook.is_empty() {
                    t.hook = Cow::Borrowed(name);
                    t.stage = at;
                }
            }
            Self::Failed { hook, stage, .. } | Self::Panicked { hook, stage, .. } => {
                if hook.is_empty() {
                    *hook = Cow::Borrowed(name);
                    *stage = at;
                }
            }
        }
        self
    }
}
