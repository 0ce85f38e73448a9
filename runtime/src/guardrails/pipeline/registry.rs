//! The guardrails a bundle may name. Each registers itself in its own
//! module with one [`Registered`] implementation on its `config` type (the
//! name a bundle gives it, the config's fields, how it is built from them);
//! [`REGISTRY`] lists them.

use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::PipelineClients;
use super::config::{EntryAt, PipelineError, RawEntry, read};
use super::guard::{DynGuard, StageHooks};
use crate::DynChatClient;
use crate::guardrails::keywords::{CompetitorsConfig, KeywordConfig};
use crate::guardrails::pii::PiiConfig;
use crate::guardrails::remote::judge::{
    CustomCheckConfig, HallucinationConfig, JailbreakConfig, NsfwConfig, OffTopicConfig,
    PromptInjectionConfig,
};
use crate::guardrails::remote::moderation::{ModerationClient, ModerationConfig};
use crate::guardrails::secret_keys::SecretConfig;
use crate::guardrails::url_filter::UrlConfig;

/// Every guardrail a bundle may name, in the order
/// [`KNOWN_NAMES`](super::KNOWN_NAMES) lists them.
pub(crate) const REGISTRY: &[Registration] = &[
    Registration::of::<PiiConfig>(),
    Registration::of::<KeywordConfig>(),
    Registration::of::<CompetitorsConfig>(),
    Registration::of::<SecretConfig>(),
    Registration::of::<UrlConfig>(),
    Registration::of::<ModerationConfig>(),
    Registration::of::<JailbreakConfig>(),
    Registration::of::<CustomCheckConfig>(),
    Registration::of::<NsfwConfig>(),
    Registration::of::<OffTopicConfig>(),
    Registration::of::<PromptInjectionConfig>(),
    Registration::of::<HallucinationConfig>(),
];

/// The names of [`REGISTRY`], in order.
pub(crate) const fn names() -> [&'static str; REGISTRY.len()] {
    let mut out = [""; REGISTRY.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = REGISTRY[i].name;
        i += 1;
    }
    out
}

/// A guardrail's `config` in a bundle, and so the guardrail: its name, and
/// how it is built from the config. The config is read with
/// `deny_unknown_fields`; an error names the field.
pub(crate) trait Registered: DeserializeOwned {
    /// The name a bundle gives the guardrail ("Contains PII").
    const NAME: &'static str;

    /// The guardrail built.
    type Guard: StageHooks;

    /// Builds the guardrail; `cx` names the entry in errors and holds the
    /// clients of model-backed guardrails.
    fn build(self, cx: &Build<'_>) -> Result<Self::Guard, PipelineError>;
}

/// Reads an entry's config and builds its guardrail.
type BuildFn = fn(&RawEntry, &PipelineClients) -> Result<Arc<dyn DynGuard>, PipelineError>;

/// One entry of [`REGISTRY`].
#[derive(Clone, Copy)]
pub(crate) struct Registration {
    pub(crate) name: &'static str,
    build: BuildFn,
}

impl Registration {
    /// The registration of the guardrail whose config is `C`.
    pub(crate) const fn of<C: Registered>() -> Self {
        Self {
            name: C::NAME,
            build: build_with::<C>,
        }
    }

    /// Reads `raw`'s config and builds the guardrail.
    pub(crate) fn build(
        &self,
        raw: &RawEntry,
        clients: &PipelineClients,
    ) -> Result<Arc<dyn DynGuard>, PipelineError> {
        (self.build)(raw, clients)
    }
}

fn build_with<C: Registered>(
    raw: &RawEntry,
    clients: &PipelineClients,
) -> Result<Arc<dyn DynGuard>, PipelineError> {
    let config: C = read(raw)?;
    let guard = config.build(&Build {
        at: &raw.at,
        clients,
    })?;
    Ok(Arc::new(guard))
}

/// What building a guardrail has at hand: where its entry is, for errors,
/// and the clients model-backed guardrails ask.
pub(crate) struct Build<'a> {
    at: &'a EntryAt,
    clients: &'a PipelineClients,
}

impl Build<'_> {
    /// A config field's value is unusable.
    pub(crate) fn bad(&self, field: &str, reason: impl ToString) -> PipelineError {
        PipelineError::BadValue {
            at: self.at.clone(),
            field: field.to_owned(),
            reason: reason.to_string(),
        }
    }

    /// A required config field's value.
    pub(crate) fn required<T>(
        &self,
        v: Option<T>,
        field: &'static str,
    ) -> Result<T, PipelineError> {
        v.ok_or_else(|| PipelineError::MissingField {
            at: self.at.clone(),
            field,
        })
    }

    /// The chat client LLM judges ask.
    pub(crate) fn judge_client(&self) -> Result<Arc<dyn DynChatClient>, PipelineError> {
        self.clients
            .judge
            .clone()
            .ok_or_else(|| self.missing("judge"))
    }

    /// The moderation client.
    pub(crate) fn moderation_client(&self) -> Result<Arc<dyn ModerationClient>, PipelineError> {
        self.clients
            .moderation
            .clone()
            .ok_or_else(|| self.missing("moderation"))
    }

    /// The documents given for `source` (`PipelineClients::knowledge`).
    pub(crate) fn knowledge(
        &self,
        source: &str,
    ) -> Result<crate::guardrails::remote::judge::References, PipelineError> {
        self.clients.knowledge.get(source).cloned().ok_or_else(|| {
            self.bad(
                "knowledge_source",
                format!("no documents for {source:?}: give them with PipelineClients::knowledge"),
            )
        })
    }

    fn missing(&self, client: &'static str) -> PipelineError {
        PipelineError::MissingClient {
            at: self.at.clone(),
            client,
        }
    }
}
