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
    /// A JSON schema does not compile.
    #[error("the JSON schema is invalid: {reason}")]
    Schema {
        /// Why, as the validator put it.
        reason: String,
    },
}
