//! `JsonSchemaOutput`: the reply must be JSON that validates against a
//! schema.
//!
//! Validation is done by the `jsonschema` crate (drafts 4 to 2020-12), built
//! without its remote and file resolvers: a schema's `$ref`s must point
//! inside the schema itself, so building a validator never touches the
//! network or the disk.

use std::sync::Arc;

use serde_json::{Value, json};

use super::error::GuardrailError;
use super::result::{GuardrailResult, record, record_shared};
use super::{Check, Guardrail};
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
/// Results and tripwires name the failing locations and schema keywords;
/// messages are masked so no value of the reply is repeated in them.
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
}

impl std::fmt::Debug for JsonSchemaOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonSchemaOutput")
            .field("code_fence", &self.code_fence)
            .finish_non_exhaustive()
    }
}

impl JsonSchemaOutput {
    /// Compiles `schema` (its `$schema` picks the draft; 2020-12 when
    /// absent).
    pub fn new(schema: &Value) -> Result<Self, GuardrailError> {
        let validator = jsonschema::validator_for(schema).map_err(|e| GuardrailError::Schema {
            reason: e.to_string(),
        })?;
        Ok(Self {
            validator: Arc::new(validator),
            code_fence: false,
        })
    }

    /// Whether a reply wrapped in a single Markdown code fence is unwrapped
    /// before parsing (off by default).
    pub fn allow_code_fence(mut self, yes: bool) -> Self {
        self.code_fence = yes;
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
                json!({
                    "instance_path": e.instance_path().as_str(),
                    "schema_path": e.schema_path().as_str(),
                    "message": e.masked().to_string(),
                })
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(failure("schema", errors))
        }
    }

    fn trip(info: Value) -> HookError {
        let reason = match info["kind"].as_str() {
            Some("no_content") => "the reply has no content to validate".to_owned(),
            Some("not_json") => "the reply is not JSON".to_owned(),
            _ => format!(
                "the reply does not match the JSON schema: {}",
                info["errors"][0]["message"].as_str().unwrap_or("invalid")
            ),
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
/// choice's text so far.
#[derive(Debug, Default)]
pub struct JsonSchemaState {
    choices: Vec<OpenChoice>,
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
                open.text.get_or_insert_with(String::new).push_str(t);
            }
            open.tools |= choice
                .delta
                .tool_calls
                .as_ref()
                .is_some_and(|t| !t.is_empty());
            if choice.finish_reason.is_some() {
                let open = state.choices.swap_remove(i);
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
        for open in std::mem::take(&mut state.choices) {
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
mod tests {
    use super::*;
    use crate::types::{Choice, ChunkChoice, Delta, FinishReason, ResponseMessage};

    fn schema() -> JsonSchemaOutput {
        JsonSchemaOutput::new(&json!({
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
            "required": ["name"],
        }))
        .unwrap()
    }

    fn reply(content: Option<&str>) -> ChatResponse {
        ChatResponse {
            choices: vec![Choice {
                message: ResponseMessage {
                    content: content.map(str::to_owned),
                    ..ResponseMessage::default()
                },
                ..Choice::default()
            }],
            ..ChatResponse::default()
        }
    }

    fn piece(text: &str, finish: bool) -> ChatChunk {
        ChatChunk {
            choices: vec![ChunkChoice {
                delta: Delta {
                    content: Some(text.to_owned()),
                    ..Delta::default()
                },
                finish_reason: finish.then_some(FinishReason::Stop),
                ..ChunkChoice::default()
            }],
            ..ChatChunk::default()
        }
    }

    #[test]
    fn valid_and_invalid_texts() {
        let s = schema();
        assert!(!s.check(r#"{"name": "Ann", "age": 3}"#).tripped);
        let bad = s.check(r#"{"name": "Ann", "age": -3}"#);
        assert!(bad.tripped);
        assert_eq!(bad.info["kind"], "schema");
        assert_eq!(bad.info["errors"][0]["instance_path"], "/age");
        assert_eq!(s.check("Ann is three").info["kind"], "not_json");
        assert_eq!(s.check(r#"{"age": 1}"#).info["kind"], "schema");
    }

    #[test]
    fn messages_do_not_repeat_reply_values() {
        let bad = schema().check(r#"{"name": "jane@example.com", "age": "secret-value"}"#);
        assert!(bad.tripped);
        let text = bad.info.to_string();
        assert!(!text.contains("secret-value"), "{text}");
    }

    #[test]
    fn code_fences_only_when_allowed() {
        let fenced = "```json\n{\"name\": \"Ann\"}\n```";
        assert!(schema().check(fenced).tripped);
        assert!(!schema().allow_code_fence(true).check(fenced).tripped);
        assert!(schema().allow_code_fence(true).check("```").tripped);
    }

    #[test]
    fn a_bad_schema_is_a_typed_error() {
        let err = JsonSchemaOutput::new(&json!({"type": "no-such-type"})).unwrap_err();
        assert!(matches!(err, GuardrailError::Schema { .. }), "{err}");
    }

    #[tokio::test]
    async fn post_response_records_and_trips() {
        let s = schema();
        let mut cx = HookContext::new("m");
        s.post_response(&mut reply(Some(r#"{"name":"x"}"#)), &mut cx)
            .await
            .unwrap();
        let err = s
            .post_response(&mut reply(Some("{")), &mut cx)
            .await
            .unwrap_err();
        assert!(err.is_tripwire());
        let err = s
            .post_response(&mut reply(None), &mut cx)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no content"), "{err}");
        let results = super::super::GuardrailResults::of(&cx).unwrap().snapshot();
        let tripped: Vec<bool> = results.iter().map(|r| r.tripped).collect();
        assert_eq!(tripped, [false, true, true]);
    }

    #[test]
    fn a_stream_is_judged_at_its_finish_chunk() {
        let s = schema();
        let cx = HookContext::new("m");
        let mut state = JsonSchemaState::default();
        for (text, finish) in [(r#"{"na"#, false), (r#"me": "#, false), (r#""Ann"}"#, true)] {
            let mut c = piece(text, finish);
            assert_eq!(
                s.on_chunk(&mut c, &mut state, &cx).unwrap(),
                ChunkAction::Pass
            );
        }
        assert_eq!(s.on_end(&mut state, &cx).unwrap(), None);

        let mut state = JsonSchemaState::default();
        let mut first = piece(r#"{"age": 1"#, false);
        s.on_chunk(&mut first, &mut state, &cx).unwrap();
        let mut last = piece("}", true);
        let err = s.on_chunk(&mut last, &mut state, &cx).unwrap_err();
        assert!(err.is_tripwire());
    }

    #[test]
    fn an_unfinished_stream_is_judged_at_its_end() {
        let s = schema();
        let cx = HookContext::new("m");
        let mut state = JsonSchemaState::default();
        s.on_chunk(&mut piece("not json", false), &mut state, &cx)
            .unwrap();
        assert!(s.on_end(&mut state, &cx).unwrap_err().is_tripwire());
    }
}
