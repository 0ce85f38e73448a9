//! The judges a pipeline bundle may name, each its `config` as
//! openai-guardrails writes it.

use super::LlmJudge;
use crate::guardrails::pipeline::{Build, PipelineError, Registered};

/// `config` of "Jailbreak" in a pipeline bundle.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JailbreakConfig {
    model: Option<String>,
    confidence_threshold: Option<f64>,
    max_turns: Option<usize>,
    /// Accepted for compatibility; verdicts here never carry a reason.
    #[serde(default)]
    #[allow(dead_code)]
    include_reasoning: bool,
}

impl Registered for JailbreakConfig {
    const NAME: &'static str = "Jailbreak";
    type Guard = LlmJudge;

    fn build(self, cx: &Build<'_>) -> Result<LlmJudge, PipelineError> {
        let model = cx.required(self.model, "model")?;
        let judge = LlmJudge::jailbreak_with(cx.judge_client()?, model);
        tune(judge, self.confidence_threshold, self.max_turns, cx)
    }
}

/// `config` of "Custom Prompt Check" in a pipeline bundle.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomCheckConfig {
    model: Option<String>,
    confidence_threshold: Option<f64>,
    max_turns: Option<usize>,
    /// Accepted for compatibility; verdicts here never carry a reason.
    #[serde(default)]
    #[allow(dead_code)]
    include_reasoning: bool,
    system_prompt_details: Option<String>,
}

impl Registered for CustomCheckConfig {
    const NAME: &'static str = "Custom Prompt Check";
    type Guard = LlmJudge;

    fn build(self, cx: &Build<'_>) -> Result<LlmJudge, PipelineError> {
        let model = cx.required(self.model, "model")?;
        let details = cx.required(self.system_prompt_details, "system_prompt_details")?;
        if details.trim().is_empty() {
            return Err(cx.bad("system_prompt_details", "must not be empty"));
        }
        let judge = LlmJudge::custom_with(cx.judge_client()?, model, &details);
        tune(judge, self.confidence_threshold, self.max_turns, cx)
    }
}

/// `config` of "NSFW Text" in a pipeline bundle.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NsfwConfig {
    model: Option<String>,
    confidence_threshold: Option<f64>,
    max_turns: Option<usize>,
    /// Accepted for compatibility; verdicts here never carry a reason.
    #[serde(default, rename = "include_reasoning")]
    _include_reasoning: bool,
}

impl Registered for NsfwConfig {
    const NAME: &'static str = "NSFW Text";
    type Guard = LlmJudge;

    fn build(self, cx: &Build<'_>) -> Result<LlmJudge, PipelineError> {
        let model = cx.required(self.model, "model")?;
        let judge = LlmJudge::nsfw_with(cx.judge_client()?, model);
        tune(judge, self.confidence_threshold, self.max_turns, cx)
    }
}

/// `config` of "Off Topic Prompts" in a pipeline bundle.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OffTopicConfig {
    model: Option<String>,
    confidence_threshold: Option<f64>,
    max_turns: Option<usize>,
    /// Accepted for compatibility; verdicts here never carry a reason.
    #[serde(default, rename = "include_reasoning")]
    _include_reasoning: bool,
    system_prompt_details: Option<String>,
}

impl Registered for OffTopicConfig {
    const NAME: &'static str = "Off Topic Prompts";
    type Guard = LlmJudge;

    fn build(self, cx: &Build<'_>) -> Result<LlmJudge, PipelineError> {
        let model = cx.required(self.model, "model")?;
        let scope = cx.required(self.system_prompt_details, "system_prompt_details")?;
        if scope.trim().is_empty() {
            return Err(cx.bad("system_prompt_details", "must not be empty"));
        }
        let judge = LlmJudge::off_topic_with(cx.judge_client()?, model, &scope);
        tune(judge, self.confidence_threshold, self.max_turns, cx)
    }
}

/// `config` of "Prompt Injection Detection" in a pipeline bundle.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PromptInjectionConfig {
    model: Option<String>,
    confidence_threshold: Option<f64>,
    max_turns: Option<usize>,
    /// Accepted for compatibility; verdicts here never carry a reason.
    #[serde(default, rename = "include_reasoning")]
    _include_reasoning: bool,
}

impl Registered for PromptInjectionConfig {
    const NAME: &'static str = "Prompt Injection Detection";
    type Guard = LlmJudge;

    fn build(self, cx: &Build<'_>) -> Result<LlmJudge, PipelineError> {
        let model = cx.required(self.model, "model")?;
        let judge = LlmJudge::prompt_injection_with(cx.judge_client()?, model);
        tune(judge, self.confidence_threshold, self.max_turns, cx)
    }
}

/// Applies a bundle's threshold and turn limit to a judge.
fn tune(
    mut judge: LlmJudge,
    threshold: Option<f64>,
    turns: Option<usize>,
    cx: &Build<'_>,
) -> Result<LlmJudge, PipelineError> {
    if let Some(t) = threshold {
        judge = judge
            .threshold(t)
            .map_err(|e| cx.bad("confidence_threshold", e))?;
    }
    if let Some(n) = turns {
        if n == 0 {
            return Err(cx.bad("max_turns", "must be at least 1"));
        }
        judge = judge.max_turns(n);
    }
    Ok(judge)
}

/// `config` of "Hallucination Detection" in a pipeline bundle: the
/// documents behind `knowledge_source` come from
/// [`PipelineClients::knowledge`](crate::guardrails::pipeline::PipelineClients::knowledge).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HallucinationConfig {
    model: Option<String>,
    confidence_threshold: Option<f64>,
    knowledge_source: Option<String>,
    /// Accepted for compatibility; verdicts here never carry a reason.
    #[serde(default, rename = "include_reasoning")]
    _include_reasoning: bool,
}

impl Registered for HallucinationConfig {
    const NAME: &'static str = "Hallucination Detection";
    type Guard = LlmJudge;

    fn build(self, cx: &Build<'_>) -> Result<LlmJudge, PipelineError> {
        let model = cx.required(self.model, "model")?;
        let source = cx.required(self.knowledge_source, "knowledge_source")?;
        let references = cx.knowledge(&source)?;
        let judge = LlmJudge::hallucination_with(cx.judge_client()?, model, references);
        tune(judge, self.confidence_threshold, None, cx)
    }
}
