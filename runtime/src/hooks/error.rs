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
    /// Why, for people.
    pub reason: String,
    /// Structured details for programs (what matched, scores, ...).
    pub info: Value,
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
    ///     .with_info(serde_json::json!({"term": "acme"}));
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
