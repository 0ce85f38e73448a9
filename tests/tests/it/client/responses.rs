//! The Responses API's client core: lenient event and response types, and
//! `checked_events`, the end-of-stream rules every event stream gets.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use openai_hooks::client::checked_events;
use openai_hooks::types::responses::{Response, ResponseEvent, ResponseStatus};
use openai_hooks::{ClientError, ResponseStream};
use serde_json::{Value, json};

fn event(v: Value) -> Result<ResponseEvent, ClientError> {
    Ok(serde_json::from_value(v).unwrap())
}

fn delta(seq: u64, s: &str) -> Result<ResponseEvent, ClientError> {
    event(json!({
        "type": "response.output_text.delta", "sequence_number": seq,
        "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": s,
    }))
}

fn lifecycle(kind: &str, status: &str) -> Result<ResponseEvent, ClientError> {
    event(json!({
        "type": kind,
        "response": {"id": "resp_1", "object": "response", "model": "m", "status": status, "output": []},
    }))
}

async fn run(
    items: Vec<Result<ResponseEvent, ClientError>>,
) -> Vec<Result<ResponseEvent, ClientError>> {
    let upstream: ResponseStream<'static> = Box::pin(futures::stream::iter(items));
    checked_events(upstream).collect().await
}

fn kinds(out: &[Result<ResponseEvent, ClientError>]) -> Vec<String> {
    out.iter()
        .map(|r| match r {
            Ok(e) => e.kind.clone(),
            Err(e) => format!("error: {e}"),
        })
        .collect()
}

#[tokio::test]
async fn a_completed_stream_passes_unchanged() {
    let out = run(vec![
        lifecycle("response.created", "in_progress"),
        delta(1, "Hel"),
        delta(2, "lo"),
        lifecycle("response.completed", "completed"),
    ])
    .await;
    assert_eq!(out.len(), 4);
    assert!(out.iter().all(Result::is_ok), "{:?}", kinds(&out));
    let text: String = out
        .iter()
        .filter_map(|e| e.as_ref().ok()?.delta_text().map(str::to_owned))
        .collect();
    assert_eq!(text, "Hello");
}

#[tokio::test]
async fn an_incomplete_response_ends_the_stream_without_error() {
    let out = run(vec![
        delta(1, "cut"),
        lifecycle("response.incomplete", "incomplete"),
    ])
    .await;
    assert_eq!(
        kinds(&out),
        ["response.output_text.delta", "response.incomplete"]
    );
}

#[tokio::test]
async fn nothing_after_the_terminal_event_is_read() {
    let polled = Arc::new(AtomicUsize::new(0));
    let counter = polled.clone();
    let items = vec![
        lifecycle("response.completed", "completed"),
        delta(9, "smuggled after the end"),
    ];
    let upstream: ResponseStream<'static> =
        Box::pin(futures::stream::iter(items).inspect(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
    let out: Vec<_> = checked_events(upstream).collect().await;
    assert_eq!(kinds(&out), ["response.completed"]);
    assert_eq!(
        polled.load(Ordering::SeqCst),
        1,
        "the upstream was read past the end"
    );
}

#[tokio::test]
async fn an_end_before_a_terminal_event_is_truncated() {
    let out = run(vec![
        lifecycle("response.created", "in_progress"),
        delta(1, "a"),
    ])
    .await;
    assert_eq!(out.len(), 3);
    assert!(
        matches!(out[2], Err(ClientError::Truncated { chunks: 2 })),
        "{:?}",
        out[2]
    );
}

#[tokio::test]
async fn an_empty_stream_and_a_stream_of_keepalives_are_empty() {
    let out = run(vec![]).await;
    assert!(matches!(out.as_slice(), [Err(ClientError::EmptyStream)]));
    let keepalive = || event(json!({"type": "keepalive", "sequence_number": 3}));
    let out = run(vec![keepalive(), keepalive()]).await;
    assert!(
        matches!(out.as_slice(), [Err(ClientError::EmptyStream)]),
        "{:?}",
        kinds(&out)
    );
    // Between real events they are dropped.
    let out = run(vec![
        delta(1, "a"),
        keepalive(),
        lifecycle("response.completed", "completed"),
    ])
    .await;
    assert_eq!(
        kinds(&out),
        ["response.output_text.delta", "response.completed"]
    );
}

#[tokio::test]
async fn a_failed_response_is_passed_on_then_ends_with_a_scrubbed_api_error() {
    let failed = event(json!({
        "type": "response.failed",
        "response": {
            "id": "resp_1", "status": "failed", "output": [],
            "usage": {"input_tokens": 7, "output_tokens": 0, "total_tokens": 7},
            "error": {"code": "server_error", "message": "upstream said sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123456789"},
        },
    }));
    let out = run(vec![delta(1, "a"), failed]).await;
    assert_eq!(out.len(), 3, "{:?}", kinds(&out));
    let usage = out[1]
        .as_ref()
        .unwrap()
        .response
        .as_ref()
        .unwrap()
        .usage
        .clone();
    assert_eq!(
        usage.unwrap().input_tokens,
        Some(7),
        "the failed event keeps its usage"
    );
    match &out[2] {
        Err(ClientError::Api(api)) => {
            assert_eq!(api.code.as_deref(), Some("server_error"));
            assert!(!api.message.contains("AbCdEfGhIjKlMnOp"), "{}", api.message);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_error_event_ends_the_stream_with_its_code() {
    let error = event(json!({
        "type": "error", "sequence_number": 4,
        "code": "rate_limit_exceeded", "message": "Rate limit reached", "param": null,
    }));
    let out = run(vec![delta(1, "a"), error, delta(5, "never read")]).await;
    assert_eq!(out.len(), 3, "{:?}", kinds(&out));
    match &out[2] {
        Err(ClientError::Api(api)) => {
            assert_eq!(api.code.as_deref(), Some("rate_limit_exceeded"));
            assert!(api.is_throttling(), "{api:?}");
        }
        other => panic!("{other:?}"),
    }
    // The nested form some gateways send, with and without a type.
    for v in [
        json!({"type": "error", "error": {"type": "invalid_request_error", "code": "context_length_exceeded", "message": "too long"}}),
        json!({"error": {"code": "context_length_exceeded", "message": "too long"}}),
    ] {
        let out = run(vec![delta(1, "a"), event(v)]).await;
        match out.last() {
            Some(Err(ClientError::Api(api))) => {
                assert!(api.is_context_window_overflow(), "{api:?}")
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn unknown_events_pass_through_with_every_field() {
    let unknown = event(json!({
        "type": "response.shell_call_output.delta", "sequence_number": 2,
        "delta": {"stdout": "ok"}, "vendor_field": [1, 2],
    }));
    let out = run(vec![unknown, lifecycle("response.completed", "completed")]).await;
    let first = out[0].as_ref().unwrap();
    assert_eq!(first.kind, "response.shell_call_output.delta");
    assert_eq!(first.delta, Some(json!({"stdout": "ok"})));
    assert_eq!(first.delta_text(), None);
    assert_eq!(first.extra["vendor_field"], json!([1, 2]));
}

#[test]
fn events_read_without_sequence_numbers_and_keep_obfuscation() {
    let e: ResponseEvent = serde_json::from_value(json!({
        "type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
        "content_index": 0, "delta": "Hi", "obfuscation": "x1Yz",
    }))
    .unwrap();
    assert_eq!(e.sequence_number, None);
    assert_eq!(e.delta_text(), Some("Hi"));
    assert_eq!(e.extra["obfuscation"], "x1Yz");
    // What is read is written back as it came.
    let back = serde_json::to_value(&e).unwrap();
    assert_eq!(back["obfuscation"], "x1Yz");
    assert!(back.get("sequence_number").is_none());
}

#[test]
fn a_response_reads_leniently_and_joins_its_output_text() {
    let r: Response = serde_json::from_value(json!({
        "id": "resp_1", "object": "response", "created_at": 1741476542, "model": "gpt-4.1",
        "status": "requires_review",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "thinking"}]},
            {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": [
                {"type": "output_text", "text": "See ", "annotations": [
                    {"type": "url_citation", "url": "https://example.com", "title": "Ex", "start_index": 0, "end_index": 3}
                ]},
                {"type": "output_text", "text": "this."}
            ]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "{}"},
        ],
        "usage": {"input_tokens": null, "output_tokens": 5, "total_tokens": 5,
                  "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens_details": {"reasoning_tokens": 2}},
        "instructions": "be brief",
    }))
    .unwrap();
    assert_eq!(
        r.status,
        Some(ResponseStatus::Other("requires_review".into()))
    );
    assert_eq!(r.output_text(), "See this.");
    assert_eq!(
        r.output[1].content[0].annotations[0].url.as_deref(),
        Some("https://example.com")
    );
    assert_eq!(r.output[2].arguments.as_deref(), Some("{}"));
    let usage = r.usage.unwrap();
    assert_eq!(
        (usage.input_tokens, usage.reasoning_tokens()),
        (None, Some(2))
    );
    assert_eq!(r.extra["instructions"], "be brief");
}
