//! A guardrail pipeline loaded from JSON, in the shape of openai-guardrails'
//! configuration bundles, assembled at run time around any
//! [`ChatClient`].
//!
//! ```json
//! {
//!   "version": 1,
//!   "pre_flight": {"version": 1, "guardrails": [
//!     {"name": "Contains PII", "config": {"entities": ["EMAIL_ADDRESS"], "block": false}}
//!   ]},
//!   "input": {"version": 1, "guardrails": [
//!     {"name": "Moderation", "config": {"categories": ["hate", "violence"]}},
//!     {"name": "Jailbreak", "config": {"model": "gpt-4.1-mini", "confidence_threshold": 0.7}}
//!   ]},
//!   "output": {"version": 1, "guardrails": [
//!     {"name": "Secret Keys", "config": {"threshold": "balanced"}},
//!     {"name": "URL Filter", "config": {"url_allow_list": ["example.com"]}}
//!   ]}
//! }
//! ```
//!
//! # Stages
//!
//! - `pre_flight` runs before the call, in order; its guardrails may
//!   rewrite the request (`"Contains PII"` with `"block": false` masks it).
//! - `input` runs *while* the call is in flight (all its guardrails at
//!   once, on a copy of the request, so their rewrites are discarded): a
//!   trip cancels the request at once, closing its connection, and the
//!   caller gets the tripwire; a reply that arrives first is held until
//!   every input guardrail has passed.
//! - `output` runs on the reply, in order. On a stream, the text
//!   guardrails (PII, keywords, competitors, secrets, URLs) check every
//!   chunk before the caller sees it, holding back only what could still
//!   complete a match (see the [guardrails](super) module); Moderation and
//!   the LLM judges cannot wait on each chunk, so they judge the whole
//!   streamed text when the upstream ends. Until they pass, the chunk that
//!   carries a finish reason and everything after it is held back: the
//!   caller sees the text as it streams, and on a trip the stream ends with
//!   the tripwire instead of a finish reason.
//!
//! # Guardrails and their `config`
//!
//! | name | fields (defaults) |
//! |---|---|
//! | `Contains PII` | `entities` (all of [`PiiEntity`](super::PiiEntity)), `block` (`false`: mask) |
//! | `Keyword Filter`, `Competitors` | `keywords` (required) |
//! | `Secret Keys` | `threshold` (`"balanced"`; `"strict"`, `"permissive"`), `custom_regex` |
//! | `URL Filter` | `url_allow_list` (`[]`), `allowed_schemes` (`["https"]`), `block_userinfo` (`true`), `allow_subdomains` (`false`) |
//! | `Moderation` | `categories` (all of [`MODERATION_CATEGORIES`](super::MODERATION_CATEGORIES)) |
//! | `Jailbreak` | `model` (required), `confidence_threshold` (0.7), `max_turns` (10), `include_reasoning` (accepted, ignored) |
//! | `Custom Prompt Check` | the same, plus `system_prompt_details` (required) |
//! | `NSFW Text` | as `Jailbreak` |
//! | `Off Topic Prompts` | as `Custom Prompt Check`: `system_prompt_details` is the application's scope |
//! | `Prompt Injection Detection` | as `Jailbreak`; judges tool results (with the user's intent) before the call and the reply's tool calls after it |
//! | `Hallucination Detection` | `model` (required), `confidence_threshold` (0.7), `knowledge_source` (required: the documents given for it with [`PipelineClients::knowledge`]), `include_reasoning` (accepted, ignored); judges replies only |
//!
//! Keyword, competitor, secret and URL guardrails always block, PII blocks
//! or masks. `Contains PII` with `"block": false` in the `input` stage only
//! records what it finds (its rewrite of the copy is discarded).
//!
//! Every mistake in a bundle is a [`PipelineError`] naming the stage, the
//! entry (index and name) and the field: unknown names, unknown fields,
//! missing required fields, bad values, a missing client.
//!
//! # Results
//!
//! [`GuardedClient::create_with_results`] and
//! [`GuardedClient::create_stream_with_results`] hand back every check's
//! [`GuardrailResult`] by stage
//! ([`PipelineResults`]); through the plain
//! [`ChatClient`] calls, [`GuardedClient::on_results`]
//! receives them once each call is over.

mod client;
mod config;
mod entry;
mod guard;
mod registry;

use std::sync::Arc;

use serde::Serialize;

pub use client::{CallResults, GuardedClient};
pub use config::{EntryAt, PipelineError, PipelineStage};

use super::remote::judge::References;
use super::remote::moderation::ModerationClient;
use super::result::GuardrailResult;
use crate::client::{ChatClient, DynChatClient};
use crate::hooks::FailurePolicy;
use entry::Entry;
pub(crate) use guard::{NoChunks, StageHooks};
pub(crate) use registry::{Build, Registered};

/// The guardrail names a bundle may use.
pub const KNOWN_NAMES: [&str; registry::REGISTRY.len()] = registry::names();

/// The clients the guardrails that call a model use: a chat client for
/// `Jailbreak`, `Custom Prompt Check`, `NSFW Text`, `Off Topic Prompts`,
/// `Prompt Injection Detection` and `Hallucination Detection` (with its
/// documents, [`knowledge`](Self::knowledge)), a moderation client for
/// `Moderation`. The loader's caller chooses them (often the same
/// async-openai client that serves the calls, or a cheaper one).
///
/// ```
/// use openai_hooks::guardrails::pipeline::PipelineClients;
/// use openai_hooks::async_openai::{Client, config::OpenAIConfig};
///
/// let openai = Client::with_config(OpenAIConfig::new().with_api_base("http://127.0.0.1:8080/v1"));
/// let clients = PipelineClients::new().openai(openai);
/// # drop(clients);
/// ```
#[derive(Clone, Default)]
pub struct PipelineClients {
    judge: Option<Arc<dyn DynChatClient>>,
    moderation: Option<Arc<dyn ModerationClient>>,
    knowledge: std::collections::BTreeMap<String, References>,
}

impl std::fmt::Debug for PipelineClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineClients")
            .field("judge", &self.judge.is_some())
            .field("moderation", &self.moderation.is_some())
            .field("knowledge", &self.knowledge.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl PipelineClients {
    /// No clients: enough for bundles without model-backed guardrails.
    pub fn new() -> Self {
        Self::default()
    }

    /// The chat client LLM judges ask.
    pub fn judge(mut self, client: impl ChatClient + 'static) -> Self {
        self.judge = Some(Arc::new(client));
        self
    }

    /// The moderation client `Moderation` asks.
    pub fn moderation(mut self, client: impl ModerationClient + 'static) -> Self {
        self.moderation = Some(Arc::new(client));
        self
    }

    /// The documents behind a `knowledge_source` that a "Hallucination
    /// Detection" entry names (in openai-guardrails, a vector store id such
    /// as `vs_…`; here, documents you supply or retrieve).
    pub fn knowledge(mut self, source: impl Into<String>, references: References) -> Self {
        self.knowledge.insert(source.into(), references);
        self
    }

    /// One async-openai client for both.
    pub fn openai<C: async_openai::config::Config + Clone + 'static>(
        self,
        client: async_openai::Client<C>,
    ) -> Self {
        self.judge(client.clone()).moderation(client)
    }
}

/// A loaded pipeline: the guardrails of each stage, ready to wrap clients.
///
/// ```
/// use openai_hooks::guardrails::pipeline::{Pipeline, PipelineClients};
///
/// let pipeline = Pipeline::from_json(
///     r#"{"version": 1, "output": {"version": 1, "guardrails": [
///         {"name": "Competitors", "config": {"keywords": ["Acme"]}}
///     ]}}"#,
///     &PipelineClients::new(),
/// )?;
/// assert_eq!(pipeline.names(openai_hooks::guardrails::pipeline::PipelineStage::Output), ["Competitors"]);
/// # Ok::<(), openai_hooks::guardrails::pipeline::PipelineError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    pre_flight: Vec<Entry>,
    input: Vec<Entry>,
    output: Vec<Entry>,
}

impl Pipeline {
    /// Loads a bundle from JSON text.
    pub fn from_json(text: &str, clients: &PipelineClients) -> Result<Self, PipelineError> {
        let value = serde_json::from_str(text).map_err(PipelineError::Json)?;
        Self::from_value(&value, clients)
    }

    /// Loads a bundle already parsed.
    pub fn from_value(
        bundle: &serde_json::Value,
        clients: &PipelineClients,
    ) -> Result<Self, PipelineError> {
        let mut pipeline = Self::default();
        for raw in config::entries(bundle)? {
            let built = entry::build(&raw, clients)?;
            pipeline.stage_mut(raw.at.stage).push(built);
        }
        Ok(pipeline)
    }

    fn stage_mut(&mut self, stage: PipelineStage) -> &mut Vec<Entry> {
        match stage {
            PipelineStage::PreFlight => &mut self.pre_flight,
            PipelineStage::Input => &mut self.input,
            PipelineStage::Output => &mut self.output,
        }
    }

    pub(crate) fn stage(&self, stage: PipelineStage) -> &[Entry] {
        match stage {
            PipelineStage::PreFlight => &self.pre_flight,
            PipelineStage::Input => &self.input,
            PipelineStage::Output => &self.output,
        }
    }

    /// The names of a stage's guardrails, in order.
    pub fn names(&self, stage: PipelineStage) -> Vec<&'static str> {
        self.stage(stage).iter().map(|e| e.name).collect()
    }

    /// Sets what happens when the guardrails named `name` (in every stage)
    /// fail rather than trip, e.g. when the moderation endpoint is down.
    /// Failing closed (stopping the call) is the default.
    pub fn failure_policy(mut self, name: &str, policy: FailurePolicy) -> Self {
        for stage in PipelineStage::ALL {
            for e in self.stage_mut(stage).iter_mut().filter(|e| e.name == name) {
                e.policy = policy;
            }
        }
        self
    }

    /// Wraps `inner`: see [`GuardedClient`].
    pub fn wrap<C: ChatClient>(self, inner: C) -> GuardedClient<C> {
        GuardedClient::new(inner, Arc::new(self))
    }
}

/// Every check's outcome of one call, by stage, as openai-guardrails'
/// `guardrail_results` has them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PipelineResults {
    /// The `pre_flight` checks, in order.
    pub pre_flight: Vec<GuardrailResult>,
    /// The `input` checks that finished (a trip cancels the others).
    pub input: Vec<GuardrailResult>,
    /// The `output` checks (one per text guardrail for a whole stream).
    pub output: Vec<GuardrailResult>,
}

impl PipelineResults {
    /// Every result, stage by stage.
    pub fn all(&self) -> impl Iterator<Item = &GuardrailResult> {
        self.pre_flight
            .iter()
            .chain(&self.input)
            .chain(&self.output)
    }

    /// Whether any check tripped.
    pub fn tripped(&self) -> bool {
        self.all().any(|r| r.tripped)
    }
}
