//! The guardrails as hooks: pre-request, post-response, chunk hooks driven
//! by hand and through the hooked stream, and the results they record.

use crate::support;

use openai_hooks::guardrails::{
    GuardrailResults, KeywordAction, Keywords, Pii, PiiAction, SecretAction, SecretKeys, UrlFilter,
    UrlFilterState,
};
use openai_hooks::limits::URL_TOKEN_CAP;
use openai_hooks::limits::{MAX_CHOICES, MAX_HELD_BYTES, MAX_TOOL_CALLS};
use openai_hooks::types::{Choice, ResponseMessage};
use openai_hooks::{
    ChatChunk, ChatResponse, HookContext, HookError, OnChunk, PostResponse, PreRequest, Stage,
};
use serde_json::json;
use support::request::request;
use support::stream::{Field, chunk, drive, run, stream_text};

#[tokio::test]
async fn pre_request_masks_input_and_records_a_result() {
    let mut req = request(&["sys jane@example.com", "ssn 123-45-6789"]);
    let mut cx = HookContext::new("m");
    Pii::new().pre_request(&mut req, &mut cx).await.unwrap();
    let body = serde_json::to_string(&req).unwrap();
    assert!(
        body.contains("sys <EMAIL_ADDRESS>") && body.contains("ssn <US_SSN>"),
        "{body}"
    );
    // Assistant history is left alone.
    assert!(body.contains("\"ok\""));
    let results = GuardrailResults::of(&cx).unwrap().snapshot();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].guardrail, "pii");
    assert_eq!(results[0].stage, Stage::PreRequest);
    assert!(!results[0].tripped);
    assert_eq!(results[0].info["total"], 2);
}

#[tokio::test]
async fn post_response_blocks_and_scans_refusal_and_reasoning() {
    let mut resp = ChatResponse {
        choices: vec![Choice {
            message: ResponseMessage {
                content: Some("fine".into()),
                reasoning_content: Some("the key is AKIAIOSFODNN7EXAMPLE".into()),
                ..ResponseMessage::default()
            },
            ..Choice::default()
        }],
        ..ChatResponse::default()
    };
    let mut cx = HookContext::new("m");
    let err = SecretKeys::new()
        .post_response(&mut resp, &mut cx)
        .await
        .unwrap_err();
    assert!(err.is_tripwire());
    assert!(!format!("{err:?}").contains("AKIA"));
    let r = &GuardrailResults::of(&cx).unwrap().snapshot()[0];
    assert!(r.tripped && r.stage == Stage::PostResponse);

    resp.choices[0].message.reasoning_content = None;
    resp.choices[0].message.refusal = Some("I won't email jane@example.com".into());
    Pii::new().post_response(&mut resp, &mut cx).await.unwrap();
    assert_eq!(
        resp.choices[0].message.refusal.as_deref(),
        Some("I won't email <EMAIL_ADDRESS>")
    );
}

#[test]
fn held_text_leaves_with_the_finish_chunk() {
    let kw = Keywords::new(["acme"]).unwrap().action(KeywordAction::Mask);
    let seen = stream_text(&kw, &["say ac".into(), "m".into()], Field::Content, true);
    let texts: Vec<&str> = seen.chunks.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts, ["say ", "acm"]);
    assert!(!seen.text_after_finish);
    // A finish chunk with no text of its own still carries the held text.
    let chunks = vec![chunk(0, Field::Content, "say ac", false), {
        let mut c = chunk(0, Field::Content, "", true);
        c.choices[0].delta.content = None;
        c
    }];
    let seen = run(&kw, chunks, Field::Content);
    assert_eq!(seen.text(0), "say ac");
    assert_eq!(seen.chunks.len(), 2);
}

#[test]
fn on_end_flushes_a_stream_cut_short_and_records_once() {
    let pii = Pii::new();
    let cx = HookContext::new("m");
    let results = GuardrailResults::install(&cx);
    let mut state = <Pii as openai_hooks::OnChunk>::State::default();
    let mut c = chunk(2, Field::Refusal, "mail jane@example.c", false);
    openai_hooks::OnChunk::on_chunk(&pii, &mut c, &mut state, &cx).unwrap();
    assert_eq!(c.choices[0].delta.refusal.as_deref(), Some("mail "));
    let end = openai_hooks::OnChunk::<ChatChunk>::on_end(&pii, &mut state, &cx)
        .unwrap()
        .expect("held text");
    assert_eq!(end.id, "chatcmpl-1");
    assert_eq!(end.choices[0].index, 2);
    // `example.c` has a one-letter top-level label: not an address.
    assert_eq!(
        end.choices[0].delta.refusal.as_deref(),
        Some("jane@example.c")
    );
    let recorded = results.snapshot();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].stage, Stage::Chunk);
    assert_eq!(recorded[0].info["total"], 0);
}

/// A key split so that one chunk holds only its middle (shorter than a
/// machine word): the key is still judged whole.
#[test]
fn secret_split_around_a_short_middle_chunk() {
    let s = SecretKeys::new().action(SecretAction::Mask);
    let text = " github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGH ";
    let pieces = [text[..36].into(), text[36..43].into(), text[43..].into()];
    let seen = stream_text(&s, &pieces, Field::Content, false);
    assert_eq!(seen.text(0), " <SECRET> ");
}

/// Through the hooked stream: held text comes out in order, and each chunk
/// guardrail records one result per stream in the call's context.
#[tokio::test]
async fn hooked_stream_records_results_and_flushes() {
    use futures::StreamExt;
    use openai_hooks::__private::{FailurePolicy, Link, hooked};

    let pii = Pii::new();
    let kw = Keywords::new(["acme"]).unwrap().action(KeywordAction::Mask);
    let chunks = vec![
        Ok(chunk(0, Field::Content, "write to jane@exa", false)),
        Ok(chunk(0, Field::Content, "mple.com about ac", false)),
        Ok(chunk(0, Field::Content, "me", true)),
    ];
    let upstream: openai_hooks::ChatStream<'_> = Box::pin(futures::stream::iter(chunks));
    let chain = Link::new(
        &kw,
        "kw",
        FailurePolicy::FailClosed,
        Link::new(&pii, "pii", FailurePolicy::FailClosed, ()),
    );
    let cx = HookContext::new("m");
    let results = GuardrailResults::install(&cx);
    let out: Vec<_> = hooked(upstream, chain, cx).collect().await;
    let text: String = out
        .iter()
        .map(|c| c.as_ref().unwrap().content().unwrap_or(""))
        .collect();
    assert_eq!(text, "write to <EMAIL_ADDRESS> about <KEYWORD>");
    let recorded = results.snapshot();
    let names: Vec<&str> = recorded.iter().map(|r| &*r.guardrail).collect();
    assert_eq!(names, ["keywords", "pii"]);
    assert!(
        recorded
            .iter()
            .all(|r| r.stage == Stage::Chunk && !r.tripped)
    );
    assert_eq!(recorded[1].info["findings"]["EMAIL_ADDRESS"], 1);

    // A tripping guardrail ends the stream with its tripwire and records it.
    let strict = Pii::new().action(PiiAction::Block);
    let upstream: openai_hooks::ChatStream<'_> = Box::pin(futures::stream::iter(vec![
        Ok(chunk(0, Field::Content, "ok then, ", false)),
        Ok(chunk(0, Field::Content, "ssn 123-45-6789 ", false)),
        Ok(chunk(0, Field::Content, "more", true)),
    ]));
    let cx = HookContext::new("m");
    let results = GuardrailResults::install(&cx);
    let chain = Link::new(&strict, "strict", FailurePolicy::FailClosed, ());
    let out: Vec<_> = hooked(upstream, chain, cx).collect().await;
    assert_eq!(out[0].as_ref().unwrap().content(), Some("ok then, "));
    let err = out.last().unwrap().as_ref().unwrap_err();
    assert!(err.to_string().contains("US_SSN"), "{err}");
    assert!(!err.to_string().contains("123-45"));
    assert!(results.any_tripped());
}

/// Chunks of `calls` tool calls of choice `index`, each with `args`.
fn tool_call_chunk(index: u32, calls: std::ops::Range<u32>, args: &str) -> ChatChunk {
    let calls: Vec<_> = calls
        .map(|i| json!({"index": i, "function": {"arguments": args}}))
        .collect();
    serde_json::from_value(json!({
        "id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
        "choices": [{"index": index, "delta": {"tool_calls": calls}}],
    }))
    .unwrap()
}

fn limit_of(err: &HookError) -> (String, u64) {
    let HookError::Tripwire(t) = err else {
        panic!("not a tripwire: {err:?}");
    };
    let limit = &t.info["limit"];
    (
        limit["what"].as_str().unwrap().to_owned(),
        limit["limit"].as_u64().unwrap(),
    )
}

#[test]
fn more_choices_than_the_limit_trip_a_chunk_hook() {
    let g = Keywords::new(["acme"]).unwrap();
    let under: Vec<_> = (0..MAX_CHOICES as u32)
        .map(|i| chunk(i, Field::Content, "fine", true))
        .collect();
    let (out, err) = drive(&g, under);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(out.len(), MAX_CHOICES);

    let over: Vec<_> = (0..=MAX_CHOICES as u32)
        .map(|i| chunk(i, Field::Content, "fine", false))
        .collect();
    let (out, err) = drive(&g, over);
    assert_eq!(
        out.len(),
        MAX_CHOICES,
        "the chunk past the limit is not delivered"
    );
    let err = err.expect("trips");
    assert!(err.is_tripwire());
    assert_eq!(
        limit_of(&err),
        ("choices per stream".to_owned(), MAX_CHOICES as u64)
    );
}

#[test]
fn more_tool_calls_than_the_limit_trip_a_chunk_hook() {
    let g = Keywords::new(["acme"]).unwrap();
    let max = MAX_TOOL_CALLS as u32;
    let (_, err) = drive(&g, vec![tool_call_chunk(0, 0..max, "{}")]);
    assert!(err.is_none(), "{err:?}");
    // Spread over chunks and choices: the limit is per choice.
    let (out, err) = drive(
        &g,
        vec![
            tool_call_chunk(0, 0..max, "{}"),
            tool_call_chunk(1, 0..max, "{}"),
            tool_call_chunk(1, max..max + 1, "{}"),
        ],
    );
    assert_eq!(out.len(), 2);
    assert_eq!(
        limit_of(&err.expect("trips")),
        ("tool calls per choice".to_owned(), MAX_TOOL_CALLS as u64)
    );
}

#[test]
fn held_back_text_past_the_limit_trips_a_chunk_hook() {
    // A URL filter holds back a token that could still become a URL, up to
    // URL_TOKEN_CAP bytes per field: many tool calls each holding one add
    // up over the stream.
    let g = UrlFilter::new(["example.com"]).unwrap();
    let token = "x".repeat(URL_TOKEN_CAP - 48);
    let fits = MAX_HELD_BYTES / token.len();
    let calls = |n: usize| -> Vec<ChatChunk> {
        (0..n)
            .map(|k| {
                let (choice, call) = ((k / MAX_TOOL_CALLS) as u32, (k % MAX_TOOL_CALLS) as u32);
                tool_call_chunk(choice, call..call + 1, &token)
            })
            .collect()
    };

    // Up to the limit: everything held comes out at the end, unchanged.
    let mut state = UrlFilterState::default();
    let cx = HookContext::new("m");
    for mut c in calls(fits) {
        g.on_chunk(&mut c, &mut state, &cx).unwrap();
    }
    assert_eq!(state.held_bytes(), fits * token.len());
    let (out, err) = drive(&g, calls(fits));
    assert!(err.is_none(), "{err:?}");
    let json = serde_json::to_string(&out).unwrap();
    assert_eq!(json.matches(token.as_str()).count(), fits);

    // One more call's worth: the chunk that goes past is not delivered.
    let (out, err) = drive(&g, calls(fits + 1));
    assert_eq!(out.len(), fits);
    let err = err.expect("trips");
    assert_eq!(
        limit_of(&err),
        (
            "held-back bytes per stream".to_owned(),
            MAX_HELD_BYTES as u64
        )
    );
    let HookError::Tripwire(t) = &err else {
        unreachable!()
    };
    assert_eq!(t.info["guardrail"], "url_filter", "{:?}", t.info);
}
