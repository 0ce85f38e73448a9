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
    let cx = HookContext::new("m");
    let results = crate::guardrails::GuardrailResults::install(&cx);
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
