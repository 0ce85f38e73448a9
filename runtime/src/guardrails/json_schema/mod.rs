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
/// Results and tripwires name the failing locations and schema keywords;
/// messages are masked so no value of the reply is repeated in them.
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
        let results = crate::guardrails::GuardrailResults::of(&cx)
            .unwrap()
            .snapshot();
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

    fn piece_of(index: u32, text: &str, finish: bool) -> ChatChunk {
        let mut c = piece(text, finish);
        c.choices[0].index = index;
        c
    }

    #[test]
    fn a_whole_reply_over_the_cap_trips_unparsed() {
        assert_eq!(schema().max_bytes, JsonSchemaOutput::DEFAULT_MAX_TEXT_BYTES);
        assert_eq!(JsonSchemaOutput::DEFAULT_MAX_TEXT_BYTES, 4 << 20);
        let valid = r#"{"name": "Ann"}"#;
        let s = schema().max_text_bytes(valid.len());
        assert!(!s.check(valid).tripped, "exactly the cap is read");
        let padded = format!("{valid} ");
        let over = s.check(&padded);
        assert!(over.tripped);
        assert_eq!(over.info["kind"], "too_long");
        assert_eq!(over.info["max_bytes"], valid.len());
        // Bytes, not characters: `é` is two.
        let s = schema().max_text_bytes(16);
        assert!(!s.check(r#"{"name": "Ané"}"#).tripped);
        assert!(s.check(r#"{"name": "Anéé"}"#).tripped);
    }

    #[tokio::test]
    async fn post_response_over_the_cap_is_a_tripwire_naming_the_cap() {
        let s = schema().max_text_bytes(8);
        let mut cx = HookContext::new("m");
        let err = s
            .post_response(&mut reply(Some(r#"{"name": "Ann"}"#)), &mut cx)
            .await
            .unwrap_err();
        assert!(err.is_tripwire());
        assert!(err.to_string().contains("8-byte cap"), "{err}");
    }

    #[test]
    fn a_stream_over_the_cap_trips_at_the_chunk_that_crosses_it() {
        let s = schema().max_text_bytes(10);
        let mut cx = HookContext::new("m");
        let results = crate::guardrails::GuardrailResults::install(&mut cx);
        let mut state = JsonSchemaState::default();
        for text in [r#"{"name""#, ": "] {
            let mut c = piece(text, false);
            assert_eq!(
                s.on_chunk(&mut c, &mut state, &cx).unwrap(),
                ChunkAction::Pass
            );
        }
        assert_eq!(state.held_bytes(), 9);
        let err = s
            .on_chunk(&mut piece(r#""Ann"}"#, false), &mut state, &cx)
            .unwrap_err();
        let HookError::Tripwire(t) = &err else {
            panic!("{err}")
        };
        assert_eq!(t.info["kind"], "too_long");
        assert_eq!(t.info["max_bytes"], 10);
        assert_eq!(t.info["choice"], 0);
        assert!(err.to_string().contains("10-byte cap"), "{err}");
        // Nothing of the crossing chunk was kept.
        assert_eq!(state.held_bytes(), 9);
        let results = results.snapshot();
        assert!(results[0].tripped);
        assert_eq!(results[0].info["kind"], "too_long");
    }

    #[test]
    fn open_choices_share_the_cap_and_a_finished_one_frees_its_part() {
        let s = JsonSchemaOutput::new(&json!({})).unwrap().max_text_bytes(8);
        let cx = HookContext::new("m");
        let mut state = JsonSchemaState::default();
        s.on_chunk(&mut piece_of(0, "[1,2", false), &mut state, &cx)
            .unwrap();
        s.on_chunk(&mut piece_of(1, "[3,4", false), &mut state, &cx)
            .unwrap();
        assert_eq!(state.held_bytes(), 8);
        // One more byte of either is over the cap, even the one that would
        // finish choice 0.
        s.on_chunk(&mut piece_of(0, "]", true), &mut state, &cx)
            .unwrap_err();
        // With room for it, a finished choice frees its part.
        let mut state = JsonSchemaState::default();
        s.on_chunk(&mut piece_of(0, "[1,2", false), &mut state, &cx)
            .unwrap();
        s.on_chunk(&mut piece_of(1, "[3,", false), &mut state, &cx)
            .unwrap();
        s.on_chunk(&mut piece_of(0, "]", true), &mut state, &cx)
            .unwrap();
        assert_eq!(state.held_bytes(), 3);
        s.on_chunk(&mut piece_of(1, "4,5]", true), &mut state, &cx)
            .unwrap();
        assert_eq!(state.held_bytes(), 0);
        assert_eq!(s.on_end(&mut state, &cx).unwrap(), None);
    }

    #[test]
    fn a_long_stream_keeps_at_most_the_cap() {
        let cap = 1000;
        let s = JsonSchemaOutput::new(&json!({}))
            .unwrap()
            .max_text_bytes(cap);
        let cx = HookContext::new("m");
        let mut state = JsonSchemaState::default();
        let mut fed = 0;
        // Bounded: the cap trips long before the loop ends.
        for _ in 0..10_000 {
            match s.on_chunk(&mut piece("\"[1,2,3,4,5,6]\",", false), &mut state, &cx) {
                Ok(_) => fed += 16,
                Err(e) => {
                    assert!(e.is_tripwire());
                    break;
                }
            }
            assert!(state.held_bytes() <= cap);
            let kept: usize = state
                .choices
                .iter()
                .map(|c| c.text.as_ref().map_or(0, String::capacity))
                .sum();
            assert!(kept <= cap, "buffers of {kept} bytes");
        }
        assert_eq!(fed, cap / 16 * 16);
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

    #[test]
    fn a_repeated_finish_chunk_passes_and_text_after_the_finish_trips() {
        let s = schema();
        let cx = HookContext::new("m");
        let mut state = JsonSchemaState::default();
        s.on_chunk(&mut piece(r#"{"name": "Ann"}"#, true), &mut state, &cx)
            .unwrap();
        // The same finish again, with empty content (as OpenRouter sends).
        assert_eq!(
            s.on_chunk(&mut piece("", true), &mut state, &cx).unwrap(),
            ChunkAction::Pass
        );
        assert_eq!(s.on_end(&mut state, &cx).unwrap(), None);
        // Text after the finish would change what was judged.
        let mut state = JsonSchemaState::default();
        s.on_chunk(&mut piece(r#"{"name": "Ann"}"#, true), &mut state, &cx)
            .unwrap();
        let err = s
            .on_chunk(&mut piece("trailing", false), &mut state, &cx)
            .unwrap_err();
        let HookError::Tripwire(t) = &err else {
            panic!("{err}")
        };
        assert_eq!(t.info["kind"], "after_finish");
        assert_eq!(t.info["choice"], 0);
    }

    #[test]
    fn held_bytes_is_zero_after_the_end_even_when_it_trips() {
        let s = schema();
        let cx = HookContext::new("m");
        let mut state = JsonSchemaState::default();
        s.on_chunk(&mut piece_of(0, "not json", false), &mut state, &cx)
            .unwrap();
        s.on_chunk(&mut piece_of(1, r#"{"name":"#, false), &mut state, &cx)
            .unwrap();
        assert!(state.held_bytes() > 0);
        assert!(s.on_end(&mut state, &cx).unwrap_err().is_tripwire());
        assert_eq!(state.held_bytes(), 0);
    }
}
