//! A pipeline entry: one configured guardrail, and how it runs at each
//! stage.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;

use super::PipelineClients;
use super::config::{
    CustomCheckConfig, EntryAt, JailbreakConfig, KeywordConfig, ModerationConfig, PiiConfig,
    PipelineError, RawEntry, SecretConfig, UrlConfig, read,
};
use crate::error::ClientError;
use crate::guardrails::{
    GuardrailError, KeywordAction, Keywords, KeywordsState, LlmJudge, Moderation, Pii, PiiAction,
    PiiEntity, PiiState, SecretKeys, SecretKeysState, SecretPreset, UrlFilter, UrlFilterState,
};
use crate::hooks::{ChunkAction, FailurePolicy, HookContext, HookError, OnChunk, Stage};
use crate::hooks::{PostResponse, PreRequest};
use crate::private::{guard, outcome};
use crate::stream::ChunkChain;
use crate::types::{ChatChunk, ChatRequest, ChatResponse};

/// A built guardrail.
#[derive(Debug, Clone)]
pub(crate) enum Check {
    Pii(Pii),
    Keywords(Keywords),
    Secrets(SecretKeys),
    Url(UrlFilter),
    Moderation(Moderation),
    Judge(LlmJudge),
}

/// One configured guardrail of a stage.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The bundle's name for it ("Contains PII"), used as the hook's name in
    /// tripwires and errors.
    pub(crate) name: &'static str,
    pub(crate) check: Check,
    pub(crate) policy: FailurePolicy,
}

/// The names a bundle may use.
pub(crate) const NAMES: [&str; 8] = [
    "Contains PII",
    "Keyword Filter",
    "Competitors",
    "Secret Keys",
    "URL Filter",
    "Moderation",
    "Jailbreak",
    "Custom Prompt Check",
];

fn bad(at: &EntryAt, field: &str, reason: impl ToString) -> PipelineError {
    PipelineError::BadValue {
        at: at.clone(),
        field: field.to_owned(),
        reason: reason.to_string(),
    }
}

fn required<T>(v: Option<T>, at: &EntryAt, field: &'static str) -> Result<T, PipelineError> {
    v.ok_or_else(|| PipelineError::MissingField {
        at: at.clone(),
        field,
    })
}

/// Builds the guardrail an entry names.
pub(crate) fn build(raw: &RawEntry, clients: &PipelineClients) -> Result<Entry, PipelineError> {
    let at = &raw.at;
    let Some(name) = NAMES.iter().copied().find(|n| *n == at.name) else {
        return Err(PipelineError::UnknownGuardrail { at: at.clone() });
    };
    let check = match name {
        "Contains PII" => {
            let c: PiiConfig = read(raw)?;
            let mut builder = Pii::builder();
            if let Some(names) = c.entities {
                let mut entities = Vec::new();
                for (i, n) in names.iter().enumerate() {
                    let e = PiiEntity::ALL
                        .into_iter()
                        .find(|e| e.as_str() == n)
                        .ok_or_else(|| {
                            let known: Vec<&str> = PiiEntity::ALL.map(PiiEntity::as_str).to_vec();
                            bad(
                                at,
                                &format!("entities[{i}]"),
                                format!(
                                    "unsupported entity `{n}`; supported: {}",
                                    known.join(", ")
                                ),
                            )
                        })?;
                    entities.push(e);
                }
                if entities.is_empty() {
                    return Err(bad(at, "entities", "needs at least one entity"));
                }
                builder = builder.entities(entities);
            }
            let pii = builder.build().map_err(|e| bad(at, "entities", e))?;
            let action = if c.block {
                PiiAction::Block
            } else {
                PiiAction::Mask
            };
            Check::Pii(pii.action(action))
        }
        "Keyword Filter" | "Competitors" => {
            let c: KeywordConfig = read(raw)?;
            let words = required(c.keywords, at, "keywords")?;
            let built = if name == "Competitors" {
                Keywords::competitors(&words)
            } else {
                Keywords::new(&words)
            };
            Check::Keywords(
                built
                    .map_err(|e| bad(at, "keywords", e))?
                    .action(KeywordAction::Block),
            )
        }
        "Secret Keys" => {
            let c: SecretConfig = read(raw)?;
            let preset = match c.threshold.as_deref() {
                None | Some("balanced") => SecretPreset::Balanced,
                Some("strict") => SecretPreset::Strict,
                Some("permissive") => SecretPreset::Permissive,
                Some(other) => {
                    return Err(bad(
                        at,
                        "threshold",
                        format!("`{other}` is not strict, balanced or permissive"),
                    ));
                }
            };
            let mut secrets = SecretKeys::preset(preset);
            for (i, re) in c.custom_regex.unwrap_or_default().iter().enumerate() {
                secrets = secrets
                    .pattern(format!("custom_regex[{i}]"), re)
                    .map_err(|e| bad(at, &format!("custom_regex[{i}]"), e))?;
            }
            Check::Secrets(secrets)
        }
        "URL Filter" => {
            let c: UrlConfig = read(raw)?;
            let filter = UrlFilter::new(&c.url_allow_list).map_err(|e| {
                let i = match &e {
                    GuardrailError::AllowEntry { entry } => {
                        c.url_allow_list.iter().position(|x| x == entry)
                    }
                    _ => None,
                };
                let field = i.map_or("url_allow_list".to_owned(), |i| {
                    format!("url_allow_list[{i}]")
                });
                bad(at, &field, e)
            })?;
            let mut filter = filter
                .allow_subdomains(c.allow_subdomains)
                .allow_userinfo(!c.block_userinfo.unwrap_or(true));
            if let Some(schemes) = c.allowed_schemes {
                // As openai-guardrails does: "https://", "HTTPS:" and
                // " https " all mean `https`.
                let cleaned: Vec<String> = schemes
                    .iter()
                    .map(|s| {
                        let s = s.trim().to_ascii_lowercase();
                        let s = s.strip_suffix("://").unwrap_or(&s);
                        s.strip_suffix(':').unwrap_or(s).trim().to_owned()
                    })
                    .filter(|s| !s.is_empty())
                    .collect();
                if cleaned.is_empty() {
                    return Err(bad(at, "allowed_schemes", "needs at least one scheme"));
                }
                filter = filter.schemes(cleaned);
            }
            Check::Url(filter)
        }
        "Moderation" => {
            let c: ModerationConfig = read(raw)?;
            let client = clients
                .moderation
                .clone()
                .ok_or(PipelineError::MissingClient {
                    at: at.clone(),
                    client: "moderation",
                })?;
            let mut m = Moderation::with_client(client);
            if let Some(categories) = c.categories {
                m = m.categories(&categories).map_err(|e| {
                    let i = match &e {
                        GuardrailError::UnknownCategory { name } => {
                            categories.iter().position(|c| c == name)
                        }
                        _ => None,
                    };
                    let field = i.map_or("categories".to_owned(), |i| format!("categories[{i}]"));
                    bad(at, &field, e)
                })?;
            }
            Check::Moderation(m)
        }
        "Jailbreak" => {
            let c: JailbreakConfig = read(raw)?;
            let model = required(c.model, at, "model")?;
            let client = judge_client(clients, at)?;
            let judge = LlmJudge::jailbreak_with(client, model);
            Check::Judge(tune(judge, c.confidence_threshold, c.max_turns, at)?)
        }
        _ => {
            let c: CustomCheckConfig = read(raw)?;
            let model = required(c.model, at, "model")?;
            let details = required(c.system_prompt_details, at, "system_prompt_details")?;
            if details.trim().is_empty() {
                return Err(bad(at, "system_prompt_details", "must not be empty"));
            }
            let client = judge_client(clients, at)?;
            let judge = LlmJudge::custom_with(client, model, &details);
            Check::Judge(tune(judge, c.confidence_threshold, c.max_turns, at)?)
        }
    };
    Ok(Entry {
        name,
        check,
        policy: FailurePolicy::FailClosed,
    })
}

fn judge_client(
    clients: &PipelineClients,
    at: &EntryAt,
) -> Result<std::sync::Arc<dyn crate::DynChatClient>, PipelineError> {
    clients.judge.clone().ok_or(PipelineError::MissingClient {
        at: at.clone(),
        client: "judge",
    })
}

fn tune(
    mut judge: LlmJudge,
    threshold: Option<f64>,
    turns: Option<usize>,
    at: &EntryAt,
) -> Result<LlmJudge, PipelineError> {
    if let Some(t) = threshold {
        judge = judge
            .threshold(t)
            .map_err(|e| bad(at, "confidence_threshold", e))?;
    }
    if let Some(n) = turns {
        if n == 0 {
            return Err(bad(at, "max_turns", "must be at least 1"));
        }
        judge = judge.max_turns(n);
    }
    Ok(judge)
}

impl Entry {
    /// Whether the entry checks streamed chunks as they pass (the text
    /// guardrails) rather than the whole streamed text at its end.
    pub(crate) fn scans_chunks(&self) -> bool {
        matches!(
            self.check,
            Check::Pii(_) | Check::Keywords(_) | Check::Secrets(_) | Check::Url(_)
        )
    }

    /// Runs the entry on a request, applying its failure policy.
    pub(crate) async fn pre_request(
        &self,
        req: &mut ChatRequest,
        cx: &mut HookContext,
    ) -> Result<(), ClientError> {
        let (name, stage, policy) = (self.name, Stage::PreRequest, self.policy);
        match &self.check {
            Check::Pii(g) => guard(g.pre_request(req, cx), name, stage, policy).await,
            Check::Keywords(g) => guard(g.pre_request(req, cx), name, stage, policy).await,
            Check::Secrets(g) => guard(g.pre_request(req, cx), name, stage, policy).await,
            Check::Url(g) => guard(g.pre_request(req, cx), name, stage, policy).await,
            Check::Moderation(g) => guard(g.pre_request(req, cx), name, stage, policy).await,
            Check::Judge(g) => guard(g.pre_request(req, cx), name, stage, policy).await,
        }
    }

    /// Runs the entry on a reply, applying its failure policy.
    pub(crate) async fn post_response(
        &self,
        resp: &mut ChatResponse,
        cx: &mut HookContext,
    ) -> Result<(), ClientError> {
        let (name, stage, policy) = (self.name, Stage::PostResponse, self.policy);
        match &self.check {
            Check::Pii(g) => guard(g.post_response(resp, cx), name, stage, policy).await,
            Check::Keywords(g) => guard(g.post_response(resp, cx), name, stage, policy).await,
            Check::Secrets(g) => guard(g.post_response(resp, cx), name, stage, policy).await,
            Check::Url(g) => guard(g.post_response(resp, cx), name, stage, policy).await,
            Check::Moderation(g) => guard(g.post_response(resp, cx), name, stage, policy).await,
            Check::Judge(g) => guard(g.post_response(resp, cx), name, stage, policy).await,
        }
    }
}

/// An entry's per-stream state as a chunk hook.
pub(crate) enum ChunkState {
    Pii(PiiState),
    Keywords(KeywordsState),
    Secrets(SecretKeysState),
    Url(UrlFilterState),
    /// Not a chunk hook.
    None,
}

impl Entry {
    fn new_state(&self) -> ChunkState {
        match &self.check {
            Check::Pii(_) => ChunkState::Pii(PiiState::default()),
            Check::Keywords(_) => ChunkState::Keywords(KeywordsState::default()),
            Check::Secrets(_) => ChunkState::Secrets(SecretKeysState::default()),
            Check::Url(_) => ChunkState::Url(UrlFilterState::default()),
            Check::Moderation(_) | Check::Judge(_) => ChunkState::None,
        }
    }

    fn on_chunk(
        &self,
        chunk: &mut ChatChunk,
        state: &mut ChunkState,
        cx: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        match (&self.check, state) {
            (Check::Pii(g), ChunkState::Pii(s)) => g.on_chunk(chunk, s, cx),
            (Check::Keywords(g), ChunkState::Keywords(s)) => g.on_chunk(chunk, s, cx),
            (Check::Secrets(g), ChunkState::Secrets(s)) => g.on_chunk(chunk, s, cx),
            (Check::Url(g), ChunkState::Url(s)) => g.on_chunk(chunk, s, cx),
            _ => Ok(ChunkAction::Pass),
        }
    }

    fn on_end(
        &self,
        state: &mut ChunkState,
        cx: &HookContext,
    ) -> Result<Option<ChatChunk>, HookError> {
        match (&self.check, state) {
            (Check::Pii(g), ChunkState::Pii(s)) => g.on_end(s, cx),
            (Check::Keywords(g), ChunkState::Keywords(s)) => g.on_end(s, cx),
            (Check::Secrets(g), ChunkState::Secrets(s)) => g.on_end(s, cx),
            (Check::Url(g), ChunkState::Url(s)) => g.on_end(s, cx),
            _ => Ok(None),
        }
    }
}

/// The output stage's text guardrails as one chunk chain, in bundle order.
pub(crate) struct EntryChain<'a> {
    links: Vec<(&'a Entry, ChunkState, bool)>,
}

impl<'a> EntryChain<'a> {
    pub(crate) fn new(entries: impl IntoIterator<Item = &'a Entry>) -> Self {
        Self {
            links: entries
                .into_iter()
                .map(|e| (e, e.new_state(), false))
                .collect(),
        }
    }

    /// Runs links `from..` on `chunk`.
    fn run_from(
        &mut self,
        from: usize,
        chunk: &mut ChatChunk,
        cx: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        for (entry, state, benched) in &mut self.links[from..] {
            if *benched {
                continue;
            }
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| entry.on_chunk(chunk, state, cx)));
            match outcome(r, entry.name, Stage::Chunk, entry.policy)? {
                Some(ChunkAction::Drop) => return Ok(ChunkAction::Drop),
                Some(ChunkAction::Pass) => {}
                None => *benched = true,
            }
        }
        Ok(ChunkAction::Pass)
    }
}

impl ChunkChain for EntryChain<'_> {
    fn on_chunk(
        &mut self,
        chunk: &mut ChatChunk,
        cx: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        self.run_from(0, chunk, cx)
    }

    fn on_end(&mut self, cx: &HookContext, out: &mut VecDeque<ChatChunk>) -> Result<(), HookError> {
        for i in 0..self.links.len() {
            let (entry, state, benched) = &mut self.links[i];
            if *benched {
                continue;
            }
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| entry.on_end(state, cx)));
            match outcome(r, entry.name, Stage::StreamEnd, entry.policy)? {
                Some(Some(mut flushed)) => {
                    if self.run_from(i + 1, &mut flushed, cx)? == ChunkAction::Pass {
                        out.push_back(flushed);
                    }
                }
                Some(None) => {}
                None => self.links[i].2 = true,
            }
        }
        Ok(())
    }
}
