//! Errors building a guardrail from its configuration.

/// A guardrail's configuration could not be turned into a guardrail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GuardrailError {
    /// No usable term was configured (all were empty after trimming).
    #[error("guardrail `{guardrail}` needs at least one non-empty term")]
    NoTerms {
        /// The guardrail's name.
        guardrail: &'static str,
    },
    /// A pattern does not compile.
    #[error("pattern `{name}` of guardrail `{guardrail}` is invalid: {source}")]
    Pattern {
        /// The guardrail's name.
        guardrail: &'static str,
        /// The pattern's name (its entity or position).
        name: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A pattern can match empty text, which cannot be masked or blocked.
    #[error("pattern `{name}` of guardrail `{guardrail}` matches empty text")]
    EmptyMatch {
        /// The guardrail's name.
        guardrail: &'static str,
        /// The pattern's name.
        name: String,
    },
    /// The automaton for the configured terms could not be built (too big).
    #[error("guardrail `{guardrail}` could not build its automaton: {source}")]
    Automaton {
        /// The guardrail's name.
        guardrail: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An allow-list entry is neither a domain, an IP address, a CIDR range
    /// nor a URL.
    #[error("allow-list entry `{entry}` is not a domain, IP address, CIDR range or URL")]
    AllowEntry {
        /// The entry as configured.
        entry: String,
    },
    /// A moderation category that OpenAI's moderation models do not report.
    #[error("unknown moderation category `{name}`")]
    UnknownCategory {
        /// The category as configured.
        name: String,
    },
    /// A confidence threshold outside 0..=1.
    #[error("confidence threshold {value} is not between 0 and 1")]
    Threshold {
        /// The value given.
        value: f64,
    },
    /// A JSON schema does not compile.
    #[error("the JSON schema is invalid: {reason}")]
    Schema {
        /// Why, as the validator put it.
        reason: String,
    },
}

/// Why a guardrail that asks a model (moderation, an LLM judge) could not
/// reach a decision. Reported as a hook failure ([`HookError::Failed`]), so
/// the hook's [`FailurePolicy`] decides whether the call stops (fail closed,
/// the default) or goes on without the check.
///
/// [`HookError::Failed`]: crate::HookError::Failed
/// [`FailurePolicy`]: crate::FailurePolicy
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// The call to the moderation endpoint or the judge failed.
    #[error("guardrail `{guardrail}` could not call its model: {source}")]
    Call {
        /// The guardrail's name.
        guardrail: &'static str,
        /// What the client reported.
        #[source]
        source: crate::ClientError,
    },
    /// The moderation endpoint answered with no result for the input.
    #[error("the moderation endpoint returned no results")]
    NoResults,
    /// The judge's answer is not the strict JSON verdict asked for. The
    /// reason names what is wrong, never the answer's text.
    #[error("guardrail `{guardrail}` got an unusable verdict: {reason}")]
    Verdict {
        /// The guardrail's name.
        guardrail: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A hallucination check could not get its reference documents.
    #[error("the reference documents could not be retrieved: {source}")]
    References {
        /// What the retrieval reported.
        #[source]
        source: crate::BoxError,
    },
}
