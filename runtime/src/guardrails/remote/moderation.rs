//! `Moderation`: ask a moderations endpoint whether text is harmful.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use async_openai::config::Config;
use futures::future::BoxFuture;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::texts::{input_texts, reply_texts};
use crate::client::ClientError;
use crate::guardrails::Guardrail;
use crate::guardrails::error::{CheckError, GuardrailError};
use crate::guardrails::pipeline::{Build, NoChunks, PipelineError, Registered, StageHooks};
use crate::guardrails::result::GuardrailResult;
use crate::hooks::{HookContext, HookError, PostResponse, PreRequest, Stage};
use crate::types::{ChatRequest, ChatResponse};

/// The categories OpenAI's moderation models report, by their wire names.
pub const MODERATION_CATEGORIES: [&str; 13] = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
];

/// The moderation model asked unless another is set.
pub const DEFAULT_MODERATION_MODEL: &str = "omni-moderation-latest";

/// One input's verdict from a moderations endpoint. Lenient: categories a
/// server adds or leaves out are fine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModerationResult {
    /// Whether the endpoint flagged the input in any category.
    #[serde(default)]
    pub flagged: bool,
    /// Each category and whether it was flagged.
    #[serde(default)]
    pub categories: BTreeMap<String, bool>,
    /// Each category's score, 0 to 1.
    #[serde(default)]
    pub category_scores: BTreeMap<String, f64>,
}

/// A moderations endpoint's reply: one result per input, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModerationResponse {
    /// The model that judged.
    #[serde(default)]
    pub model: String,
    /// One result per input.
    #[serde(default)]
    pub results: Vec<ModerationResult>,
}

/// Something that answers moderation requests (`POST /moderations`).
///
/// Implemented for `async_openai::Client<C>` with any config (OpenAI,
/// Azure, the local server), and for `&T` and `Arc<T>`; object safe, so
/// `Arc<dyn ModerationClient>` works where the client is chosen at run time.
pub trait ModerationClient: Send + Sync {
    /// Classifies each of `inputs` with `model`.
    fn moderate<'a>(
        &'a self,
        inputs: Vec<String>,
        model: &'a str,
    ) -> BoxFuture<'a, Result<ModerationResponse, ClientError>>;
}

impl<C: Config> ModerationClient for async_openai::Client<C> {
    fn moderate<'a>(
        &'a self,
        inputs: Vec<String>,
        model: &'a str,
    ) -> BoxFuture<'a, Result<ModerationResponse, ClientError>> {
        Box::pin(async move {
            let req = json!({"model": model, "input": inputs});
            // "Bring your own type": the lenient response above instead of
            // async-openai's, which requires every category to be present.
            self.moderations()
                .create_byot::<_, ModerationResponse>(req)
                .await
                .map_err(|e| {
                    crate::client::convert_with(
                        e,
                        "moderation response",
                        self.config().api_key().expose_secret(),
                    )
                })
        })
    }
}

impl<T: ModerationClient + ?Sized> ModerationClient for &T {
    fn moderate<'a>(
        &'a self,
        inputs: Vec<String>,
        model: &'a str,
    ) -> BoxFuture<'a, Result<ModerationResponse, ClientError>> {
        T::moderate(self, inputs, model)
    }
}

impl<T: ModerationClient + ?Sized> ModerationClient for Arc<T> {
    fn moderate<'a>(
        &'a self,
        inputs: Vec<String>,
        model: &'a str,
    ) -> BoxFuture<'a, Result<ModerationResponse, ClientError>> {
        T::moderate(self, inputs, model)
    }
}

/// What [`Moderation::evaluate`] found.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ModerationVerdict {
    /// Whether a selected category was flagged for any input.
    pub tripped: bool,
    /// The selected categories flagged, in the order of
    /// [`MODERATION_CATEGORIES`].
    pub flagged: Vec<String>,
    /// The highest score of each selected category over all inputs.
    pub scores: BTreeMap<String, f64>,
}

impl ModerationVerdict {
    fn info(&self, checked: &[String], inputs: usize) -> Value {
        json!({
            "guardrail": "moderation",
            "flagged_categories": self.flagged,
            "categories_checked": checked,
            "category_scores": self.scores,
            "inputs": inputs,
        })
    }
}

/// Stops a call when a moderations endpoint flags the input or the reply in
/// one of the selected categories (all of them by default).
///
/// As a [`PreRequest`] hook it sends the text of each system, developer and
/// user message as one input; as a [`PostResponse`] hook, each choice's
/// content and refusal. It makes one request per check, through any
/// [`ModerationClient`]. It is not a chunk hook (a chunk hook cannot wait
/// for a network call); the [pipeline](crate::guardrails::pipeline) checks a streamed
/// reply once when it ends.
///
/// When the endpoint cannot be reached or returns nothing, the hook fails
/// with [`CheckError`]: the call stops unless the hook is declared
/// fail-open.
///
/// ```no_run
/// use openai_hooks::guardrails::Moderation;
/// use openai_hooks::async_openai::{Client, config::OpenAIConfig};
///
/// let moderation = Moderation::new(Client::with_config(OpenAIConfig::new()))
///     .categories(["hate", "violence"])?;
/// # Ok::<(), openai_hooks::guardrails::GuardrailError>(())
/// ```
#[derive(Clone)]
pub struct Moderation {
    client: Arc<dyn ModerationClient>,
    categories: Vec<String>,
    model: String,
}

impl std::fmt::Debug for Moderation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Moderation")
            .field("categories", &self.categories)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl Moderation {
    /// Checks every category with [`DEFAULT_MODERATION_MODEL`] through
    /// `client`.
    pub fn new(client: impl ModerationClient + 'static) -> Self {
        Self::with_client(Arc::new(client))
    }

    /// [`Moderation::new`] with a client that is already shared.
    pub fn with_client(client: Arc<dyn ModerationClient>) -> Self {
        Self {
            client,
            categories: MODERATION_CATEGORIES.map(str::to_owned).to_vec(),
            model: DEFAULT_MODERATION_MODEL.to_owned(),
        }
    }

    /// Trips only on these categories (names from
    /// [`MODERATION_CATEGORIES`]; an unknown one is an error).
    pub fn categories<I, S>(mut self, categories: I) -> Result<Self, GuardrailError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut chosen = Vec::new();
        for c in categories {
            let c = c.as_ref();
            if !MODERATION_CATEGORIES.contains(&c) {
                return Err(GuardrailError::UnknownCategory { name: c.to_owned() });
            }
            if !chosen.iter().any(|k| k == c) {
                chosen.push(c.to_owned());
            }
        }
        self.categories = chosen;
        Ok(self)
    }

    /// The moderation model to ask.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    /// Asks the endpoint about `inputs` and applies the category selection.
    pub async fn evaluate(&self, inputs: Vec<String>) -> Result<ModerationVerdict, CheckError> {
        let reply = self
            .client
            .moderate(inputs, &self.model)
            .await
            .map_err(|source| CheckError::Call {
                guardrail: "moderation",
                source,
            })?;
        if reply.results.is_empty() {
            return Err(CheckError::NoResults);
        }
        let mut flagged = Vec::new();
        let mut scores = BTreeMap::new();
        for category in &self.categories {
            let hit = reply
                .results
                .iter()
                .any(|r| r.categories.get(category).copied().unwrap_or(false));
            if hit {
                flagged.push(category.clone());
            }
            let top = reply
                .results
                .iter()
                .filter_map(|r| r.category_scores.get(category).copied())
                .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
            if let Some(top) = top {
                scores.insert(category.clone(), top);
            }
        }
        Ok(ModerationVerdict {
            tripped: !flagged.is_empty(),
            flagged,
            scores,
        })
    }

    /// Runs a check at `stage` and records its result.
    fn run(
        &self,
        inputs: Vec<String>,
        stage: Stage,
        cx: &mut HookContext,
    ) -> impl Future<Output = Result<(), HookError>> + Send {
        let n = inputs.len();
        let results = crate::guardrails::GuardrailResults::install(cx);
        async move {
            if n == 0 {
                return Ok(());
            }
            let verdict = self.evaluate(inputs).await.map_err(HookError::failed)?;
            let info = verdict.info(&self.categories, n);
            results.push(GuardrailResult {
                guardrail: "moderation".into(),
                stage,
                tripped: verdict.tripped,
                info: info.clone(),
            });
            if verdict.tripped {
                Err(HookError::tripwire(format!(
                    "moderation flagged: {}",
                    verdict.flagged.join(", ")
                ))
                .with_info(info))
            } else {
                Ok(())
            }
        }
    }
}

impl Guardrail for Moderation {
    fn name(&self) -> &'static str {
        "moderation"
    }
    fn stages(&self) -> &'static [Stage] {
        &[Stage::PreRequest, Stage::PostResponse]
    }
}

impl PreRequest for Moderation {
    fn pre_request(
        &self,
        req: &mut ChatRequest,
        cx: &mut HookContext,
    ) -> impl Future<Output = Result<(), HookError>> + Send {
        self.run(input_texts(req), Stage::PreRequest, cx)
    }
}

impl PostResponse for Moderation {
    fn post_response(
        &self,
        resp: &mut ChatResponse,
        cx: &mut HookContext,
    ) -> impl Future<Output = Result<(), HookError>> + Send {
        let texts = reply_texts(resp).into_iter().map(|(_, t)| t).collect();
        self.run(texts, Stage::PostResponse, cx)
    }
}

impl StageHooks for Moderation {
    type Chunks = NoChunks;
    fn chunks(&self) -> Option<&NoChunks> {
        None
    }
}

/// `config` of "Moderation" in a pipeline bundle.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModerationConfig {
    categories: Option<Vec<String>>,
}

impl Registered for ModerationConfig {
    const NAME: &'static str = "Moderation";
    type Guard = Moderation;

    fn build(self, cx: &Build<'_>) -> Result<Moderation, PipelineError> {
        let mut m = Moderation::with_client(cx.moderation_client()?);
        if let Some(categories) = self.categories {
            m = m.categories(&categories).map_err(|e| {
                let i = match &e {
                    GuardrailError::UnknownCategory { name } => {
                        categories.iter().position(|c| c == name)
                    }
                    _ => None,
                };
                let field = i.map_or("categories".to_owned(), |i| format!("categories[{i}]"));
                cx.bad(&field, e)
            })?;
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Flags `hate` for any input containing "hate"; records what it got.
    #[derive(Default)]
    struct Fake {
        seen: Mutex<Vec<(Vec<String>, String)>>,
        fail: bool,
        empty: bool,
    }

    impl ModerationClient for Fake {
        fn moderate<'a>(
            &'a self,
            inputs: Vec<String>,
            model: &'a str,
        ) -> BoxFuture<'a, Result<ModerationResponse, ClientError>> {
            self.seen
                .lock()
                .unwrap()
                .push((inputs.clone(), model.to_owned()));
            let reply = if self.fail {
                Err(ClientError::Transport {
                    message: "refused".into(),
                })
            } else if self.empty {
                Ok(ModerationResponse::default())
            } else {
                let results = inputs
                    .iter()
                    .map(|i| {
                        let hit = i.contains("hate");
                        ModerationResult {
                            flagged: hit,
                            categories: [("hate".to_owned(), hit), ("violence".to_owned(), false)]
                                .into(),
                            category_scores: [("hate".to_owned(), if hit { 0.9 } else { 0.1 })]
                                .into(),
                        }
                    })
                    .collect();
                Ok(ModerationResponse {
                    model: model.to_owned(),
                    results,
                })
            };
            Box::pin(async move { reply })
        }
    }

    fn req(texts: &[&str]) -> ChatRequest {
        let messages: Vec<Value> = texts
            .iter()
            .map(|t| json!({"role": "user", "content": t}))
            .collect();
        serde_json::from_value(json!({"model": "m", "messages": messages})).unwrap()
    }

    #[tokio::test]
    async fn flags_selected_categories_only() {
        let fake = Arc::new(Fake::default());
        let all = Moderation::with_client(fake.clone());
        let v = all.evaluate(vec!["I hate this".into()]).await.unwrap();
        assert!(v.tripped);
        assert_eq!(v.flagged, ["hate"]);
        assert_eq!(v.scores["hate"], 0.9);
        let clean = all.evaluate(vec!["lovely".into()]).await.unwrap();
        assert!(!clean.tripped && clean.flagged.is_empty());
        let violence_only = Moderation::with_client(fake.clone())
            .categories(["violence"])
            .unwrap();
        assert!(
            !violence_only
                .evaluate(vec!["hate".into()])
                .await
                .unwrap()
                .tripped
        );
        assert_eq!(fake.seen.lock().unwrap()[0].1, DEFAULT_MODERATION_MODEL);
    }

    #[test]
    fn unknown_categories_are_errors() {
        let err = Moderation::new(Fake::default())
            .categories(["hate", "rudeness"])
            .unwrap_err();
        assert!(matches!(err, GuardrailError::UnknownCategory { ref name } if name == "rudeness"));
    }

    #[tokio::test]
    async fn input_stage_sends_each_message_and_trips() {
        let fake = Arc::new(Fake::default());
        let m = Moderation::with_client(fake.clone()).model("omni-x");
        let mut cx = HookContext::new("m");
        m.pre_request(&mut req(&["hi", "fine"]), &mut cx)
            .await
            .unwrap();
        let err = m
            .pre_request(&mut req(&["hi", "I hate you"]), &mut cx)
            .await
            .unwrap_err();
        let HookError::Tripwire(t) = err else {
            panic!("{err}")
        };
        assert_eq!(t.info["flagged_categories"], json!(["hate"]));
        let seen = fake.seen.lock().unwrap();
        assert_eq!(
            seen[1],
            (
                vec!["hi".to_owned(), "I hate you".to_owned()],
                "omni-x".to_owned()
            )
        );
        let results = crate::guardrails::GuardrailResults::of(&cx)
            .unwrap()
            .snapshot();
        assert_eq!(
            results.iter().map(|r| r.tripped).collect::<Vec<_>>(),
            [false, true]
        );
    }

    #[tokio::test]
    async fn output_stage_checks_each_choice() {
        let m = Moderation::new(Fake::default());
        let mut resp: ChatResponse = serde_json::from_value(json!({
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "nice"}},
                {"index": 1, "message": {"role": "assistant", "refusal": "I hate that"}},
            ],
        }))
        .unwrap();
        let mut cx = HookContext::new("m");
        assert!(
            m.post_response(&mut resp, &mut cx)
                .await
                .unwrap_err()
                .is_tripwire()
        );
    }

    #[tokio::test]
    async fn endpoint_failures_are_hook_failures() {
        let failing = Moderation::new(Fake {
            fail: true,
            ..Fake::default()
        });
        let mut cx = HookContext::new("m");
        let err = failing
            .pre_request(&mut req(&["x"]), &mut cx)
            .await
            .unwrap_err();
        assert!(matches!(err, HookError::Failed { .. }), "{err}");
        let empty = Moderation::new(Fake {
            empty: true,
            ..Fake::default()
        });
        let err = empty.evaluate(vec!["x".into()]).await.unwrap_err();
        assert!(matches!(err, CheckError::NoResults));
    }
}
