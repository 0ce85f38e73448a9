//! `checked`: the end-of-stream rules every transport stream gets.

use futures::StreamExt;
use openai_hooks::client::checked;
use openai_hooks::{ChatChunk, ChatStream, ClientError};
use serde_json::json;

fn chunk(v: serde_json::Value) -> Result<ChatChunk, ClientError> {
    Ok(serde_json::from_value(v).unwrap())
}

fn text(i: u32, s: &str) -> Result<ChatChunk, ClientError> {
    chunk(json!({"choices": [{"index": i, "delta": {"content": s}}]}))
}

fn finish(i: u32) -> Result<ChatChunk, ClientError> {
    chunk(json!({"choices": [{"index": i, "delta": {}, "finish_reason": "stop"}]}))
}

async fn run(items: Vec<Result<ChatChunk, ClientError>>) -> Vec<Result<ChatChunk, ClientError>> {
    let upstream: ChatStream<'static> = Box::pin(futures::stream::iter(items));
    checked(upstream).collect().await
}

#[tokio::test]
async fn complete_stream_passes_unchanged() {
    let out = run(vec![text(0, "a"), text(0, "b"), finish(0), chunk(json!({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}))]).await;
    assert_eq!(out.len(), 4);
    assert!(out.iter().all(Result::is_ok));
}

#[tokio::test]
async fn end_without_finish_reason_is_truncated() {
    let out = run(vec![text(0, "a"), text(0, "b")]).await;
    assert_eq!(out.len(), 3);
    assert!(
        matches!(out[2], Err(ClientError::Truncated { chunks: 2 })),
        "{:?}",
        out[2]
    );
}

#[tokio::test]
async fn every_choice_must_finish() {
    let out = run(vec![text(0, "a"), text(1, "b"), finish(0)]).await;
    assert!(matches!(
        out.last(),
        Some(Err(ClientError::Truncated { .. }))
    ));
    let out = run(vec![text(0, "a"), text(1, "b"), finish(1), finish(0)]).await;
    assert!(out.iter().all(Result::is_ok));
}

#[tokio::test]
async fn empty_stream_is_an_error() {
    let out = run(vec![]).await;
    assert!(matches!(out.as_slice(), [Err(ClientError::EmptyStream)]));
}

#[tokio::test]
async fn usage_only_stream_is_truncated() {
    let out = run(vec![chunk(
        json!({"choices": [], "usage": {"total_tokens": 3}}),
    )])
    .await;
    assert!(matches!(
        out.last(),
        Some(Err(ClientError::Truncated { chunks: 1 }))
    ));
}

#[tokio::test]
async fn error_inside_a_chunk_ends_the_stream_after_that_chunk() {
    let out = run(vec![
        text(0, "a"),
        chunk(json!({"error": {"code": 400, "message": "Token limit reached"}, "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": null}], "usage": {"total_tokens": 53}})),
        text(0, "never"),
        finish(0),
    ])
    .await;
    assert_eq!(out.len(), 3, "{out:?}");
    let carried = out[1].as_ref().unwrap();
    assert_eq!(
        carried.usage.as_ref().unwrap().total_tokens,
        53,
        "the chunk's usage is delivered"
    );
    let Err(ClientError::Api(api)) = &out[2] else {
        panic!("{:?}", out[2])
    };
    assert_eq!(api.status, None);
    assert_eq!(api.code.as_deref(), Some("400"));
    assert_eq!(api.message, "Token limit reached");
}

#[tokio::test]
async fn upstream_error_ends_the_stream() {
    let out = run(vec![
        text(0, "a"),
        Err(ClientError::Transport {
            message: "reset".into(),
        }),
        text(0, "never"),
    ])
    .await;
    assert_eq!(out.len(), 2);
    assert!(matches!(out[1], Err(ClientError::Transport { .. })));
}

#[tokio::test]
async fn more_choices_than_the_limit_end_the_stream() {
    use openai_hooks::limits::MAX_CHOICES;
    let max = MAX_CHOICES as u32;
    // Exactly the limit: every choice opens and finishes.
    let mut items: Vec<_> = (0..max).map(|i| text(i, "a")).collect();
    items.extend((0..max).map(finish));
    let out = run(items).await;
    assert!(out.iter().all(Result::is_ok), "{:?}", out.last());
    assert_eq!(out.len(), 2 * MAX_CHOICES);

    // One more distinct index: the chunks before it are delivered, then
    // the error, and nothing after.
    let mut items: Vec<_> = (0..=max).map(|i| text(i * 7, "a")).collect();
    items.extend((0..=max).map(|i| finish(i * 7)));
    let out = run(items).await;
    assert_eq!(out.len(), MAX_CHOICES + 1);
    assert!(out[..MAX_CHOICES].iter().all(Result::is_ok));
    assert!(
        matches!(
            out[MAX_CHOICES],
            Err(ClientError::LimitExceeded { what: "choices per stream", limit }) if limit == MAX_CHOICES as u64
        ),
        "{:?}",
        out[MAX_CHOICES]
    );

    // Many indices in one chunk count the same way.
    let many: Vec<_> = (0..=max)
        .map(|i| json!({"index": i, "delta": {"content": "a"}}))
        .collect();
    let out = run(vec![chunk(json!({ "choices": many })), text(0, "never")]).await;
    assert!(
        matches!(
            out.as_slice(),
            [Err(ClientError::LimitExceeded {
                what: "choices per stream",
                ..
            })]
        ),
        "{out:?}"
    );
}
