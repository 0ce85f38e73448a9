//! Replies to events: every recorded stream and reply, through the local
//! server and `OpenAIModel`; refusals, tool calls, in-stream errors, cut
//! streams; error mapping for every recorded error body.

use std::time::Duration;

use futures::StreamExt;
use openai_hooks::ClientError;
use openai_hooks::async_openai::config::OpenAIConfig;
use openai_hooks::model::{
    BlockDelta, BlockStart, ConfigUpdate, Fixed, Message, ModelError, OpenAIModel, StopReason,
    StreamEvent,
};
use openai_hooks::server::{Fault, LocalServer, Reply, fixtures_dir};
use openai_hooks::transport::{RetryPolicy, Transport};
use serde_json::Value;

type Client = openai_hooks::async_openai::Client<OpenAIConfig>;

fn model(server: &LocalServer, stream: bool) -> OpenAIModel<Fixed<Client>> {
    let client = Transport::builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
        .client(
            OpenAIConfig::new()
                .with_api_base(server.base_url())
                .with_api_key("k"),
        );
    OpenAIModel::builder("gpt-4o-mini")
        .client(client)
        .stream(stream)
        .build()
        .unwrap()
}

async fn events(model: &OpenAIModel<Fixed<Client>>) -> (Vec<StreamEvent>, Option<ModelError>) {
    let messages = [Message::user("hello")];
    let mut stream = std::pin::pin!(model.stream(&messages, &[], None, None));
    let mut out = Vec::new();
    // Bounded: recordings hold a few hundred chunks at most.
    for _ in 0..10_000 {
        match stream.next().await {
            Some(Ok(e)) => out.push(e),
            Some(Err(e)) => {
                assert!(stream.next().await.is_none(), "nothing follows an error");
                return (out, Some(e));
            }
            None => return (out, None),
        }
    }
    panic!("the event stream did not end");
}

/// The tool calls of an event sequence: (id, name, arguments).
fn tool_calls(events: &[StreamEvent]) -> Vec<(String, String, String)> {
    let mut calls = Vec::new();
    let mut current: Option<(String, String, String)> = None;
    for e in events {
        match e {
            StreamEvent::ContentBlockStart(BlockStart::ToolUse { id, name }) => {
                current = Some((id.clone(), name.clone(), String::new()));
            }
            StreamEvent::ContentBlockDelta(BlockDelta::ToolUseInput(piece)) => {
                current
                    .as_mut()
                    .expect("a delta inside a tool block")
                    .2
                    .push_str(piece);
            }
            StreamEvent::ContentBlockStop => calls.extend(current.take()),
            _ => {}
        }
    }
    calls
}

fn text(events: &[StreamEvent], want: fn(&BlockDelta) -> Option<&str>) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ContentBlockDelta(d) => want(d),
            _ => None,
        })
        .collect()
}

fn reply_text(d: &BlockDelta) -> Option<&str> {
    if let BlockDelta::Text(t) = d {
        Some(t)
    } else {
        None
    }
}

fn refusal_text(d: &BlockDelta) -> Option<&str> {
    if let BlockDelta::Refusal(t) = d {
        Some(t)
    } else {
        None
    }
}

/// Checks the event grammar: start, balanced blocks, stop, metadata.
fn well_formed(events: &[StreamEvent]) {
    assert!(
        matches!(events.first(), Some(StreamEvent::MessageStart { .. })),
        "{events:#?}"
    );
    assert!(
        matches!(events.last(), Some(StreamEvent::Metadata { .. })),
        "{events:#?}"
    );
    assert!(
        matches!(events[events.len() - 2], StreamEvent::MessageStop { .. }),
        "{events:#?}"
    );
    let mut open = false;
    for e in events {
        match e {
            StreamEvent::ContentBlockStart(_) => {
                assert!(!open, "a block starts inside another");
                open = true;
            }
            StreamEvent::ContentBlockDelta(_) => assert!(open, "a delta outside a block"),
            StreamEvent::ContentBlockStop => {
                assert!(open, "a stop without a start");
                open = false;
            }
            _ => {}
        }
    }
    assert!(!open, "a block left open");
}

#[tokio::test]
async fn every_recorded_stream_converts() {
    let server = LocalServer::start().await.unwrap();
    let model = model(&server, true);
    let mut files: Vec<_> = std::fs::read_dir(fixtures_dir().join("stream"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 19);
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        server.push(Reply::fixture(&path));
        let (events, error) = events(&model).await;
        if name == "openrouter-midstream-error" {
            // The gateway's error object ends the stream with its message.
            let Some(ModelError::Client(ClientError::Api(api))) = &error else {
                panic!("{name}: expected the in-stream error, got {error:?}");
            };
            assert!(api.message.contains("Token limit reached"), "{api:?}");
            continue;
        }
        assert!(error.is_none(), "{name}: {error:?}");
        well_formed(&events);
        let calls = tool_calls(&events);
        for (id, tool, args) in &calls {
            assert!(!id.is_empty() && !tool.is_empty(), "{name}: {calls:?}");
            serde_json::from_str::<Value>(args).unwrap_or_else(|e| {
                panic!("{name}: arguments of {tool} are not JSON ({e}): {args}")
            });
        }
        let stop = events.iter().find_map(|e| match e {
            StreamEvent::MessageStop { stop_reason } => Some(stop_reason.clone()),
            _ => None,
        });
        if name.contains("tool-call") {
            assert!(!calls.is_empty(), "{name}: no tool call");
            assert_eq!(stop, Some(StopReason::ToolUse), "{name}");
        }
        if name.contains("refusal") {
            assert!(
                !text(&events, refusal_text).is_empty(),
                "{name}: the refusal was lost"
            );
        }
        if name == "openai-length" {
            assert_eq!(stop, Some(StopReason::MaxTokens));
        }
        if name.contains("reasoning") {
            let reasoning = text(&events, |d| {
                if let BlockDelta::Reasoning(t) = d {
                    Some(t)
                } else {
                    None
                }
            });
            assert!(!reasoning.is_empty(), "{name}: no reasoning");
        }
        if name.contains("usage") {
            let Some(StreamEvent::Metadata { usage, .. }) = events.last() else {
                unreachable!()
            };
            assert!(
                usage.is_some_and(|u| u.input_tokens > 0 && u.output_tokens > 0),
                "{name}: {usage:?}"
            );
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn parallel_tool_calls_come_in_index_order() {
    let server = LocalServer::start().await.unwrap();
    let model = model(&server, true);
    server.push(Reply::fixture_named("openai-parallel-tool-calls"));
    let (events, error) = events(&model).await;
    assert!(error.is_none());
    let calls = tool_calls(&events);
    assert!(calls.len() >= 2, "{calls:?}");
    let ids: Vec<&str> = calls.iter().map(|c| c.0.as_str()).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids, unique);
    server.shutdown().await;
}

#[tokio::test]
async fn metadata_has_usage_latency_and_time_to_first_token() {
    let server = LocalServer::start().await.unwrap();
    let model = model(&server, true);
    server.push(
        Reply::text("one two three")
            .chunks(3)
            .usage(11, 3)
            .first_byte_delay(Duration::from_millis(40)),
    );
    let (events, error) = events(&model).await;
    assert!(error.is_none(), "{error:?}");
    let Some(StreamEvent::Metadata { usage, metrics }) = events.last() else {
        panic!("{events:?}")
    };
    let usage = usage.expect("usage asked for and sent");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.total_tokens),
        (11, 3, 14)
    );
    let ttft = metrics.time_to_first_token.expect("measured, not zero");
    assert!(ttft >= Duration::from_millis(40), "{ttft:?}");
    assert!(metrics.latency >= ttft);
    assert_eq!(text(&events, reply_text), "one two three");
    // The request asked for usage.
    assert_eq!(
        server.requests()[0].body["stream_options"]["include_usage"],
        true
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_cut_stream_is_an_error_never_a_silent_success() {
    let server = LocalServer::start().await.unwrap();
    let model = model(&server, true);
    server.push(
        Reply::text("never finished")
            .chunks(4)
            .fault(Fault::CutBeforeDone { after: 2 }),
    );
    let (events, error) = events(&model).await;
    assert!(matches!(error, Some(ModelError::Client(_))), "{error:?}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, StreamEvent::MessageStop { .. }))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn non_streaming_mode_yields_the_same_events() {
    let server = LocalServer::start().await.unwrap();
    let streaming = model(&server, true);
    let complete = model(&server, false);
    for reply in [
        Reply::text("same either way").chunks(3),
        Reply::refusal("I can't help with that."),
    ] {
        server.push(reply.clone());
        let (a, e1) = events(&streaming).await;
        server.push(reply);
        let (b, e2) = events(&complete).await;
        assert!(e1.is_none() && e2.is_none());
        well_formed(&b);
        assert_eq!(text(&a, reply_text), text(&b, reply_text));
        assert_eq!(text(&a, refusal_text), text(&b, refusal_text));
        assert_eq!(a[a.len() - 2], b[b.len() - 2], "same stop reason");
    }
    let sent = server.requests();
    assert_eq!(
        sent[1].body.get("stream"),
        None,
        "the complete reply was asked without stream"
    );
    assert_eq!(sent[1].body.get("stream_options"), None);
    // Config updates apply to later calls.
    complete.update_config(ConfigUpdate {
        stream: Some(true),
        ..Default::default()
    });
    assert!(complete.config().stream);
    server.shutdown().await;
}

#[tokio::test]
async fn every_recorded_reply_converts_in_non_streaming_mode() {
    let server = LocalServer::start().await.unwrap();
    let model = model(&server, false);
    for entry in std::fs::read_dir(fixtures_dir().join("response")).unwrap() {
        let path = entry.unwrap().path();
        server.push(Reply::fixture(&path));
        let (events, error) = events(&model).await;
        assert!(error.is_none(), "{}: {error:?}", path.display());
        well_formed(&events);
        for (_, tool, args) in tool_calls(&events) {
            serde_json::from_str::<Value>(&args).unwrap_or_else(|e| panic!("{tool}: {e}"));
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn every_recorded_error_maps_to_its_kind() {
    let server = LocalServer::start().await.unwrap();
    let model = model(&server, true);
    for entry in std::fs::read_dir(fixtures_dir().join("error")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let status: u16 = name[..3].parse().unwrap();
        let body = std::fs::read_to_string(&path).unwrap();
        server.push(Reply::raw(status, "application/json", body.clone()));
        let (events, error) = events(&model).await;
        assert!(events.is_empty());
        let expected: Value = serde_json::from_str(&body).unwrap();
        let message = expected["error"]["message"].as_str().unwrap();
        match error {
            Some(ModelError::Throttled(api)) => {
                assert_eq!(status, 429, "{name}");
                assert_eq!(api.message, message);
            }
            Some(ModelError::Client(ClientError::Api(api))) => {
                assert_ne!(status, 429, "{name}: throttling not recognised");
                assert_eq!(api.status, Some(status), "{name}");
                assert_eq!(api.message, message, "{name}");
                if let Some(code) = expected["error"]["code"].as_str() {
                    assert_eq!(api.code.as_deref(), Some(code), "{name}");
                }
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn context_overflow_and_throttling_with_retry_after() {
    let server = LocalServer::start().await.unwrap();
    let model = model(&server, true);
    server.push(Reply::error(
        400,
        "context_length_exceeded",
        "This model's maximum context length is 128000 tokens.",
    ));
    let (_, error) = events(&model).await;
    assert!(
        matches!(error, Some(ModelError::ContextWindowOverflow(_))),
        "{error:?}"
    );

    server.push(Reply::error(
        400,
        "invalid_request_error",
        "Input is too long for requested model.",
    ));
    let (_, error) = events(&model).await;
    assert!(
        matches!(error, Some(ModelError::ContextWindowOverflow(_))),
        "{error:?}"
    );

    server.push(Reply::error(429, "rate_limit_exceeded", "Slow down").retry_after(7));
    let (_, error) = events(&model).await;
    let error = error.expect("throttled");
    assert!(matches!(error, ModelError::Throttled(_)), "{error:?}");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    server.shutdown().await;
}

#[test]
fn a_new_tool_call_id_at_the_same_index_is_a_new_call() {
    // Some servers number every parallel call 0; only the id differs.
    let mut conv = openai_hooks::model::EventConverter::new(std::time::Instant::now());
    let mut out = Vec::new();
    for c in [
        serde_json::json!({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "a", "function": {"name": "one", "arguments": "{\"x\":"}}]}}]}),
        serde_json::json!({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "a", "function": {"arguments": "1}"}}]}}]}),
        serde_json::json!({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "b", "function": {"name": "two", "arguments": "{}"}}]}}]}),
        serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
    ] {
        let chunk: openai_hooks::ChatChunk = serde_json::from_value(c).unwrap();
        conv.push(&chunk, &mut out).unwrap();
    }
    let calls = tool_calls(&out);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].2, "{\"x\":1}");
    assert_eq!(calls[1].0, "b");
    assert_eq!(calls[1].2, "{}");
}
