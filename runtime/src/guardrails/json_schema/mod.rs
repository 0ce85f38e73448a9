//! `JsonSchemaOutput`: the reply must be JSON that validates against a
//! schema.
//!
//! Validation is done by the `jsonschema` crate (drafts 4 to 2020-12), built
//! without its remote and file resolvers: a schema's `$ref`s must point
//! inside the schema itself, so building a validator never touches the
//! network or the disk.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::guardrails::error::GuardrailError;
use crate::guardrails::result::{GuardrailResult, record, record_shared};
use crate::guardrails::{Check, Guardrail};
use crate::hooks::{ChunkAction, HookContext, HookError, OnChunk, PostResponse, Stage};
use crate::types::{ChatChunk, ChatResponse};

/// How many validation errors a result or tripwire lists at most.
const MAX_ERRORS: usize = 8;

/// Checks that each choice's reply is JSON valid against a schema.
///
/// As a [`PostResponse`] hook it checks every choice's `content`. A choice
/// that only calls tools (no content) is skipped: it is not an answer yet.
/// A choice with no content otherwise (a refusal) trips, as does text that
/// is not JSON or JSON the schema rejects. A reply wrapped in one Markdown
/// code fence (`` ```json … ``` ``) is accepted when
/// [`allow_code_fence`](Self::allow_code_fence) is set.
///
/// As an [`OnChunk`] hook it cannot judge a reply before it is complete:
/// it passes content chunks on as they come, keeps a copy of each choice's
/// text, and validates it when the chunk carrying the choice's
/// `finish_reason` arrives, *before* that chunk is handed on. So a stream
/// caller sees the reply's text as it streams; when it is invalid, the
/// stream ends with the tripwire instead of the finish chunk (and the usage
/// chunk after it). Treat streamed text as unchecked until the stream ends
/// without an error, or use a non-streamed call when nothing invalid may
/// reach the caller at all.
///
/// Results and tripwires name the failing locations (JSON pointers into the
/// reply and the schema) and schema keywords; never a value of the reply or
/// of the schema.
///
/// # Size cap
///
/// A reply must be read whole before it can be judged, so the text kept is
/// capped: [`max_text_bytes`](Self::max_text_bytes), by default
/// [`DEFAULT_MAX_TEXT_BYTES`](Self::DEFAULT_MAX_TEXT_BYTES) (4 MiB). As a
/// chunk hook, the text of all choices open at once counts together; the
/// chunk that would take it past the cap trips (kind `too_long`, with
/// `max_bytes` in the info) before it is handed on, and nothing more is
/// kept. A buffer's capacity never exceeds twice its length (or the cap),
/// so a stream's state takes at most twice the cap, however long the reply
/// and however many choices it has. A text judged whole
/// ([`check`](Self::check), or each choice in the post-response hook) longer
/// than the cap trips the same way, without being parsed. An over-long reply
/// is never passed unchecked.
///
/// A chunk for a choice already judged (some servers repeat the finish
/// chunk) is passed on; if it carries text, which would change what was
/// judged, it trips (kind `after_finish`).
///
/// ```
/// use openai_hooks::guardrails::JsonSchemaOutput;
/// use serde_json::json;
///
/// let schema = json!({
///     "type": "object",
///     "properties": {"answer": {"type": "string"}},
///     "required": ["answer"],
///     "additionalProperties": false,
/// });
/// let check = JsonSchemaOutput::new(&schema)?;
/// assert!(!check.check(r#"{"answer": "42"}"#).tripped);
/// assert!(check.check(r#"{"answer": 42}"#).tripped);
/// assert!(check.check("the answer is 42").tripped);
/// # Ok::<(), openai_hooks::guardrails::GuardrailError>(())
/// ```
#[derive(Clone)]
pub struct JsonSchemaOutput {
    validator: Arc<jsonschema::Validator>,
    code_fence: bool,
    max_bytes: usize,
}

impl std::fmt::Debug for JsonSchemaOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonSchemaOutput")
            .field("code_fence", &self.code_fence)
            .field("max_text_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl JsonSchemaOutput {
    /// The most reply text kept and judged unless
    /// [`max_text_bytes`](Self::max_text_bytes) says otherwise: 4 MiB.
    pub const DEFAULT_MAX_TEXT_BYTES: usize = 4 << 20;

    /// Compiles `schema` (its `$schema` picks the draft; 2020-12 when
    /// absent).
    pub fn new(schema: &Value) -> Result<Self, GuardrailError> {
        let validator = jsonschema::validator_for(schema).map_err(|e| GuardrailError::Schema {
            reason: e.to_string(),
        })?;
        Ok(Self {
            validator: Arc::new(validator),
            code_fence: false,
            max_bytes: Self::DEFAULT_MAX_TEXT_BYTES,
        })
    }

    /// Whether a reply wrapped in a single Markdown code fence is unwrapped
    /// before parsing (off by default).
    pub fn allow_code_fence(mut self, yes: bool) -> Self {
        self.code_fence = yes;
        self
    }

    /// The most reply text, in UTF-8 bytes, kept and judged (default
    /// [`DEFAULT_MAX_TEXT_BYTES`](Self::DEFAULT_MAX_TEXT_BYTES)): a longer
    /// reply trips with kind `too_long`. As a chunk hook the text of all
    /// choices open at once counts together.
    pub fn max_text_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max;
        self
    }

    /// Checks one reply text.
    pub fn check(&self, text: &str) -> Check {
        let (tripped, info) = match self.judge(Some(text)) {
            Ok(()) => (false, json!({"guardrail": "json_schema", "valid": true})),
            Err(info) => (true, info),
        };
        Check {
            tripped,
            text: None,
            info,
        }
    }

    /// `Ok` when `text` is valid; otherwise the details, as `info`.
    fn judge(&self, text: Option<&str>) -> Result<(), Value> {
        let Some(text) = text else {
            return Err(failure("no_content", Vec::new()));
        };
        if text.len() > self.max_bytes {
            return Err(self.too_long());
        }
        let text = if self.code_fence { unfence(text) } else { text };
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                // The parser's message names a line and column, never text.
                return Err(failure("not_json", vec![json!({"message": e.to_string()})]));
            }
        };
        let errors: Vec<Value> = self
            .validator
            .iter_errors(&value)
            .take(MAX_ERRORS)
            .map(|e| {
                // The keyword and the two paths only: a validator's
                // message, even masked, can quote the schema (`enum`,
                // `const`) or the reply's property names.
                json!({
                    "instance_path": e.instance_path().as_str(),
                    "schema_path": e.schema_path().as_str(),
                    "keyword": e.kind().keyword(),
                })
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(failure("schema", errors))
        }
    }

    /// The details of a reply over the cap.
    fn too_long(&self) -> Value {
        let mut info = failure(
            "too_long",
            vec![json!({"message": format!(
                "the reply is longer than the {} bytes this check reads",
                self.max_bytes
            )})],
        );
        info["max_bytes"] = self.max_bytes.into();
        info
    }

    fn trip(info: Value) -> HookError {
        let reason = match info["kind"].as_str() {
            Some("no_content") => "the reply has no content to validate".to_owned(),
            Some("not_json") => "the reply is not JSON".to_owned(),
            Some("too_long") => format!(
                "the reply exceeds the {}-byte cap on text validated against the JSON schema",
                info["max_bytes"]
            ),
            // The failing keyword (`type`, `required`, `enum`, ...), a word
            // of the JSON Schema vocabulary, never a value.
            _ => match info["errors"][0]["keyword"].as_str() {
                Some(keyword) => {
                    format!("the reply does not match the JSON schema (keyword `{keyword}`)")
                }
                None => "the reply does not match the JSON schema".to_owned(),
            },
        };
        HookError::tripwire(reason).with_info(info)
    }
}

fn failure(kind: &str, errors: Vec<Value>) -> Value {
    json!({"guardrail": "json_schema", "valid": false, "kind": kind, "errors": errors})
}

/// The body of a reply that is one fenced code block, else the reply.
fn unfence(text: &str) -> &str {
    let t = text.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return text;
    };
    let Some(body) = rest.strip_suffix("```") else {
        return text;
    };
    // Drop the info string (`json`) on the opening line.
    match body.split_once('\n') {
        Some((_, inner)) => inner,
        None => text,
    }
}

impl Guardrail for JsonSchemaOutput {
    fn name(&self) -> &'static str {
        "json_schema"
    }
    fn stages(&self) -> &'static [Stage] {
        &[Stage::PostResponse, Stage::Chunk]
    }
}

impl PostResponse for JsonSchemaOutput {
    async fn post_response(
        &self,
        resp: &mut ChatResponse,
        cx: &mut HookContext,
    ) -> Result<(), HookError> {
        let mut outcome = Ok(());
        for choice in &resp.choices {
            let m = &choice.message;
            if m.content.is_none() && m.tool_calls.as_ref().is_some_and(|t| !t.is_empty()) {
                continue;
            }
            if let Err(mut info) = self.judge(m.content.as_deref()) {
                info["choice"] = choice.index.into();
                outcome = Err(info);
                break;
            }
        }
        let (tripped, info) = match &outcome {
            Ok(()) => (false, json!({"guardrail": "json_schema", "valid": true})),
            Err(info) => (true, info.clone()),
        };
        record(
            cx,
            GuardrailResult {
                guardrail: "json_schema".into(),
                stage: Stage::PostResponse,
                tripped,
                info,
            },
        );
        outcome.map_err(Self::trip)
    }
}

/// Per-stream state of [`JsonSchemaOutput`] as a chunk hook: each open
/// choice's text so far, together at most the guardrail's
/// [`max_text_bytes`](JsonSchemaOutput::max_text_bytes).
#[derive(Debug, Default)]
pub struct JsonSchemaState {
    choices: Vec<OpenChoice>,
    /// Choices already judged: a later chunk for one (some servers repeat
    /// the finish chunk) does not reopen it.
    finished: Vec<u32>,
    /// The bytes of text kept, over all open choices.
    held: usize,
    validated: usize,
    reported: bool,
}

#[derive(Debug)]
struct OpenChoice {
    index: u32,
    text: Option<String>,
    tools: bool,
}

impl JsonSchemaState {
    /// How many bytes of reply text it keeps now, over all open choices
    /// (never more than the guardrail's cap).
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    fn report(&mut self, cx: &HookContext, tripped: bool, info: Value) {
        if !self.reported {
            self.reported = true;
            record_shared(
                cx,
                GuardrailResult {
                    guardrail: "json_schema".into(),
                    stage: Stage::Chunk,
                    tripped,
                    info,
                },
            );
        }
    }
}

impl JsonSchemaOutput {
    /// Validates a finished choice of a stream.
    fn finish(&self, open: OpenChoice) -> Result<(), Value> {
        if open.text.is_none() && open.tools {
            return Ok(());
        }
        self.judge(open.text.as_deref()).map_err(|mut info| {
            info["choice"] = open.index.into();
            info
        })
    }
}

impl OnChunk for JsonSchemaOutput {
    type State = JsonSchemaState;

    fn on_chunk(
        &self,
        chunk: &mut ChatChunk,
        state: &mut JsonSchemaState,
        cx: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        for choice in &chunk.choices {
            if state.finished.contains(&choice.index) {
                // Judged already: a repeated finish chunk passes; text after
                // the finish would change what was judged, so it trips.
                if choice
                    .delta
                    .content
                    .as_deref()
                    .is_some_and(|t| !t.is_empty())
                {
                    let mut info = failure(
                        "after_finish",
                        vec![json!({"message": "the reply sent text after its finish reason"})],
                    );
                    info["choice"] = choice.index.into();
                    state.report(cx, true, info.clone());
                    return Err(Self::trip(info));
                }
                continue;
            }
            let i = match state.choices.iter().position(|c| c.index == choice.index) {
                Some(i) => i,
                None => {
                    state.choices.push(OpenChoice {
                        index: choice.index,
                        text: None,
                        tools: false,
                    });
                    state.choices.len() - 1
                }
            };
            let open = &mut state.choices[i];
            if let Some(t) = &choice.delta.content {
                if state.held + t.len() > self.max_bytes {
                    let mut info = self.too_long();
                    info["choice"] = choice.index.into();
                    state.report(cx, true, info.clone());
                    return Err(Self::trip(info));
                }
                let text = open.text.get_or_insert_with(String::new);
                let need = text.len() + t.len();
                if need > text.capacity() {
                    // Grow as `push_str` would, but never past the cap.
                    let target = need.max(2 * text.capacity()).min(self.max_bytes);
                    text.reserve_exact(target - text.len());
                }
                text.push_str(t);
                state.held += t.len();
            }
            open.tools |= choice
                .delta
                .tool_calls
                .as_ref()
                .is_some_and(|t| !t.is_empty());
            if choice.finish_reason.is_some() {
                let open = state.choices.swap_remove(i);
                state.finished.push(open.index);
                state.held -= open.text.as_ref().map_or(0, String::len);
                state.validated += 1;
                if let Err(info) = self.finish(open) {
                    state.report(cx, true, info.clone());
                    return Err(Self::trip(info));
                }
            }
        }
        Ok(ChunkAction::Pass)
    }

    fn on_end(
        &self,
        state: &mut JsonSchemaState,
        cx: &HookContext,
    ) -> Result<Option<ChatChunk>, HookError> {
        // Choices the upstream never finished: judge what they sent.
        let open_choices = std::mem::take(&mut state.choices);
        state.held = 0;
        for open in open_choices {
            state.validated += 1;
            if let Err(info) = self.finish(open) {
                state.report(cx, true, info.clone());
                return Err(Self::trip(info));
            }
        }
        let info = json!({"guardrail": "json_schema", "valid": true, "choices": state.validated});
        state.report(cx, false, info);
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
