//! Azure OpenAI's content-filter results, read from the fields Azure adds
//! to replies and chunks (kept in `extra` as they came).
//!
//! Azure annotates a reply with `prompt_filter_results` (what its filters
//! found in the prompt) and each choice with `content_filter_results` (in
//! the completion), per category: `hate`, `self_harm`, `sexual`,
//! `violence` with a `severity`, and `jailbreak`, `protected_material_text`,
//! `protected_material_code` with `detected`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ChatChunk, ChatResponse, Choice, ChunkChoice, Extra};

/// One category's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterResult {
    /// Whether the filter withheld the content.
    #[serde(default)]
    pub filtered: bool,
    /// `safe`, `low`, `medium` or `high` (harm categories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Whether it was found (`jailbreak`, protected material).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected: Option<bool>,
    /// Other fields, as sent (`citation`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// Every category's result for one text, by category name.
///
/// Read leniently, category by category: one of a shape not known here
/// does not hide the others. A list (older API versions send
/// `custom_blocklists` as one) is filtered when any item is, its items
/// kept in `extra["items"]`; a category that is not an object or a list
/// is left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ContentFilterResults(pub BTreeMap<String, FilterResult>);

impl<'de> Deserialize<'de> for ContentFilterResults {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, Value>::deserialize(d)?;
        Ok(Self(
            raw.into_iter()
                .filter_map(|(name, v)| category(v).map(|r| (name, r)))
                .collect(),
        ))
    }
}

/// One category's result, as far as it reads as one.
fn category(v: Value) -> Option<FilterResult> {
    match v {
        Value::Object(_) => FilterResult::deserialize(v).ok(),
        Value::Array(items) => {
            let flag = |name: &str| {
                items
                    .iter()
                    .any(|i| i.get(name) == Some(&Value::Bool(true)))
            };
            let (filtered, detected) = (flag("filtered"), flag("detected"));
            let mut extra = Extra::new();
            extra.insert("items".to_owned(), Value::Array(items));
            Some(FilterResult {
                filtered,
                severity: None,
                detected: detected.then_some(true),
                extra,
            })
        }
        _ => None,
    }
}

impl ContentFilterResults {
    /// Whether any category withheld the content.
    pub fn filtered(&self) -> bool {
        self.0.values().any(|r| r.filtered)
    }

    /// The categories that withheld the content or were detected.
    pub fn flagged(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(|(_, r)| r.filtered || r.detected == Some(true))
            .map(|(k, _)| k.as_str())
    }
}

/// The results for one prompt of a request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptFilterResult {
    /// Which prompt.
    #[serde(default)]
    pub prompt_index: u32,
    /// Its results.
    #[serde(default)]
    pub content_filter_results: ContentFilterResults,
}

/// Reads `extra[name]` as `T`, when it is there and reads as one.
fn read<T: serde::de::DeserializeOwned>(extra: &Extra, name: &str) -> Option<T> {
    extra.get(name).and_then(|v| T::deserialize(v).ok())
}

fn prompt_results(extra: &Extra) -> Vec<PromptFilterResult> {
    // Older API versions call the field `prompt_annotations`.
    read::<Vec<PromptFilterResult>>(extra, "prompt_filter_results")
        .or_else(|| read(extra, "prompt_annotations"))
        .unwrap_or_default()
}

impl ChatResponse {
    /// Azure's filter results for the prompt (empty from other servers).
    pub fn prompt_filter_results(&self) -> Vec<PromptFilterResult> {
        prompt_results(&self.extra)
    }
}

impl ChatChunk {
    /// Azure's filter results for the prompt, on the chunk that carries
    /// them (empty otherwise).
    pub fn prompt_filter_results(&self) -> Vec<PromptFilterResult> {
        prompt_results(&self.extra)
    }
}

impl Choice {
    /// Azure's filter results for this choice's completion.
    pub fn content_filter_results(&self) -> Option<ContentFilterResults> {
        read(&self.extra, "content_filter_results")
    }
}

impl ChunkChoice {
    /// Azure's filter results for this choice, on the chunks that carry
    /// them.
    pub fn content_filter_results(&self) -> Option<ContentFilterResults> {
        read(&self.extra, "content_filter_results")
    }
}
