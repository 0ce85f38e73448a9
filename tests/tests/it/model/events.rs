//! Replies to events: every recorded stream and reply, through the local
//! server and `OpenAIModel`; refusals, tool calls, in-stream errors, cut
//! streams; error mapping for every recorded error body.

use std::time::Duration;

use futures::StreamExt;
use openai_hooks::ClientError;
use openai_hooks::async_openai::config::OpenAIConfig;
use openai_hooks::model::{
    BlockDelta, BlockStart, ConfigUpdate, Fixed, Message, ModelError, OpenAIModel, StopReason,
    StreamEvent, TokenUsage,
};
use openai_hooks::server::{Fault, LocalServer, Reply};
use openai_hooks::transport::{RetryPolicy, Transport};
use serde_json::Value;

use crate::support::fixtures_dir;

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

/// The JSON of every `data:` line of a recorded stream, in order.
fn recorded_chunks(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str(data.trim()).ok())
        .collect()
}

/// The stop reason a `finish_reason` names.
fn stop_reason_of(finish_reason: &str) -> StopReason {
    match finish_reason {
        "stop" => StopReason::EndTurn,
        "tool_calls" => StopReason::ToolUse,
        "length" => StopReason::MaxTokens,
        "content_filter" => StopReason::ContentFiltered,
        other => StopReason::Other(other.to_owned()),
    }
}

/// The stop reason a recorded stream gives: its first finish reason for
/// choice 0.
fn recorded_stop(chunks: &[Value]) -> Option<StopReason> {
    chunks.iter().find_map(|c| {
        c["choices"]
            .as_array()?
            .iter()
            .find(|choice| choice["index"] == 0)?["finish_reason"]
            .as_str()
            .map(stop_reason_of)
    })
}

/// The token counts a recorded `usage` object gives.
fn usage_of(usage: &Value) -> TokenUsage {
    let count = |v: &Value| v.as_u64();
    TokenUsage {
        input_tokens: count(&usage["prompt_tokens"]).unwrap(),
        output_tokens: count(&usage["completion_tokens"]).unwrap(),
        total_tokens: count(&usage["total_tokens"]).unwrap(),
        cached_input_tokens: count(&usage["prompt_tokens_details"]["cached_tokens"])
            .or_else(|| count(&usage["prompt_cache_hit_tokens"])),
    }
}

/// The usage a recorded stream reports: its last `usage` object.
fn recorded_usage(chunks: &[Value]) -> Option<TokenUsage> {
    chunks
        .iter()
        .rev()
        .find(|c| c["usage"].is_object())
        .map(|c| usage_of(&c["usage"]))
}

/// The stop reason and usage of an event sequence.
fn stop_and_usage(events: &[StreamEvent]) -> (Option<StopReason>, Option<TokenUsage>) {
    let stop = events.iter().find_map(|e| match e {
        StreamEvent::MessageStop { stop_reason } => Some(stop_reason.clone()),
        _ => None,
    });
    let usage = match events.last() {
        Some(StreamEvent::Metadata { usage, .. }) => *usage,
        _ => None,
    };
    (stop, usage)
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
    assert!(files.len() >= 19, "{files:?}");
    let mut end_turns = 0;
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
        // The stop reason and usage are the recording's, by value.
        let recorded = recorded_chunks(&path);
        let (stop, usage) = stop_and_usage(&events);
        assert_eq!(stop, recorded_stop(&recorded), "{name}");
        assert_eq!(usage, recorded_usage(&recorded), "{name}");
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
        if name.contains("text-usage") || name.starts_with("openai-refusal") {
            assert_eq!(stop, Some(StopReason::EndTurn), "{name}");
        }
        end_turns += usize::from(stop == Some(StopReason::EndTurn));
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
    // Ten recordings end with `finish_reason: "stop"`.
    assert!(end_turns >= 10, "{end_turns}");
    server.shutdown().await;
}

/// The tool calls a recorded stream makes, read from the file itself:
/// (id, name, arguments) per `tool_calls[].index`, in index order.
fn recorded_tool_calls(chunks: &[Value]) -> Vec<(String, String, String)> {
    let mut calls: std::collections::BTreeMap<u64, (String, String, String)> =
        std::collections::BTreeMap::new();
    for c in chunks {
        let deltas = c["choices"][0]["delta"]["tool_calls"].as_array();
        for call in deltas.into_iter().flatten() {
            let entry = calls.entry(call["index"].as_u64().unwrap()).or_default();
            if let Some(id) = call["id"].as_str() {
                id.clone_into(&mut entry.0);
            }
            if let Some(name) = call["function"]["name"].as_str() {
                name.clone_into(&mut entry.1);
            }
            if let Some(args) = call["function"]["arguments"].as_str() {
                entry.2.push_str(args);
            }
        }
    }
    calls.into_values().collect()
}

/// The recorded body with its events reordered: those that carry tool-call
/// fragments come highest index first (each index's own fragments keep
/// their order), so arrival order is not index order.
fn highest_index_first(path: &std::path::Path) -> String {
    let body = std::fs::read_to_string(path).unwrap();
    let events: Vec<&str> = body
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .collect();
    let index_of = |event: &str| -> Option<u64> {
        let data: Value = serde_json::from_str(event.strip_prefix("data:")?.trim()).ok()?;
        data["choices"][0]["delta"]["tool_calls"][0]["index"].as_u64()
    };
    let first = events.iter().position(|e| index_of(e).is_some()).unwrap();
    let last = events.iter().rposition(|e| index_of(e).is_some()).unwrap();
    let mut calls = events[first..=last].to_vec();
    assert!(calls.iter().all(|e| index_of(e).is_some()), "{calls:?}");
    calls.sort_by_key(|e| std::cmp::Reverse(index_of(e)));
    let mut out: Vec<&str> = events[..first].to_vec();
    out.extend(calls);
    out.extend(&events[last + 1..]);
    out.iter().map(|e| format!("{e}\n\n")).collect()
}

#[tokio::test]
async fn parallel_tool_calls_come_in_index_order() {
    let server = LocalServer::start().await.unwrap();
    let model = model(&server, true);
    let path = fixtures_dir().join("stream/openai-parallel-tool-calls.sse");
    let expected = recorded_tool_calls(&recorded_chunks(&path));
    // What the recording holds, index 0 then index 1.
    let ids_and_names: Vec<(&str, &str)> = expected
        .iter()
        .map(|(id, name, _)| (id.as_str(), name.as_str()))
        .collect();
    assert_eq!(
        ids_and_names,
        [
            ("call_JMW1whyEaYG438VE1OIflxA2", "GetWeatherArgs"),
            ("call_DNYTawLBoN8fj3KN6qU9N1Ou", "get_stock_price"),
        ]
    );
    assert_eq!(
        serde_json::from_str::<Value>(&expected[0].2).unwrap(),
        serde_json::json!({"city": "Edinburgh", "country": "GB", "units": "c"})
    );
    // As recorded (index 0's fragments first), and with index 1's
    // fragments sent first: the calls come out in index order both times.
    let reordered = highest_index_first(&path);
    assert_ne!(reordered, std::fs::read_to_string(&path).unwrap());
    for (how, reply) in [
        ("as recorded", Reply::fixture(&path)),
        (
            "index 1 first",
            Reply::raw(200, "text/event-stream", reordered),
        ),
    ] {
        server.push(reply);
        let (events, error) = events(&model).await;
        assert!(error.is_none(), "{how}: {error:?}");
        well_formed(&events);
        assert_eq!(tool_calls(&events), expected, "{how}");
        assert_eq!(
            stop_and_usage(&events).0,
            Some(StopReason::ToolUse),
            "{how}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn usage_carries_cached_tokens_from_the_recordings() {
    let server = LocalServer::start().await.unwrap();
    let streaming = model(&server, true);
    let complete = model(&server, false);
    let stream = |name: &str| fixtures_dir().join(format!("stream/{name}.sse"));
    let cases = [
        (
            &streaming,
            stream("deepseek-reasoning-tool-call"),
            (339, 83, 422, Some(320)),
        ),
        (
            &streaming,
            stream("xai-reasoning-tool-call"),
            (291, 26, 513, Some(290)),
        ),
        (
            &streaming,
            stream("crusoe-vllm-text-usage"),
            (46, 14, 60, Some(0)),
        ),
        // No `prompt_tokens_details`: no cached count, rather than 0.
        (&streaming, stream("openai-text-usage"), (14, 30, 44, None)),
        (
            &complete,
            fixtures_dir().join("response/deepseek-reasoning-tool-call.json"),
            (339, 92, 431, Some(320)),
        ),
    ];
    for (model, path, (input, output, total, cached)) in cases {
        server.push(Reply::fixture(&path));
        let (events, error) = events(model).await;
        assert!(error.is_none(), "{}: {error:?}", path.display());
        let (_, usage) = stop_and_usage(&events);
        assert_eq!(
            usage,
            Some(TokenUsage {
                input_tokens: input,
                output_tokens: output,
                total_tokens: total,
                cached_input_tokens: cached,
            }),
            "{}",
            path.display()
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn each_finish_reason_gives_its_stop_reason() {
    let server = LocalServer::start().await.unwrap();
    for stream in [true, false] {
        let model = model(&server, stream);
        for (finish, expected) in [
            ("content_filter", StopReason::ContentFiltered),
            ("stop", StopReason::EndTurn),
            ("length", StopReason::MaxTokens),
        ] {
            server.push(Reply::text("partial answ").chunks(3).finish_reason(finish));
            let (events, error) = events(&model).await;
            assert!(error.is_none(), "{finish}, stream {stream}: {error:?}");
            well_formed(&events);
            assert_eq!(text(&events, reply_text), "partial answ");
            assert_eq!(
                stop_and_usage(&events).0,
                Some(expected),
                "{finish}, stream {stream}"
            );
        }
    }
    // One request per case, streamed and then complete.
    let streamed: Vec<bool> = server
        .requests()
        .iter()
        .map(|r| r.body["stream"] == true)
        .collect();
    assert_eq!(streamed, [true, true, true, false, false, false]);
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
    let mut files: Vec<_> = std::fs::read_dir(fixtures_dir().join("response"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    for path in &files {
        server.push(Reply::fixture(path));
        let (events, error) = events(&model).await;
        assert!(error.is_none(), "{}: {error:?}", path.display());
        well_formed(&events);
        for (_, tool, args) in tool_calls(&events) {
            serde_json::from_str::<Value>(&args).unwrap_or_else(|e| panic!("{tool}: {e}"));
        }
        // Stop reason and usage, by value, from the recording.
        let recorded: Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let (stop, usage) = stop_and_usage(&events);
        assert_eq!(
            stop,
            recorded["choices"][0]["finish_reason"]
                .as_str()
                .map(stop_reason_of),
            "{}",
            path.display()
        );
        assert_eq!(
            usage,
            Some(usage_of(&recorded["usage"])),
            "{}",
            path.display()
        );
    }
    assert_eq!(server.requests().len(), files.len());
    server.shutdown().await;
}

#[tokio::test]
async fn every_recorded_error_maps_to_its_kind() {
    let server = LocalServer::start().await.unwrap();
    let model = model(&server, true);
    let mut files: Vec<_> = std::fs::read_dir(fixtures_dir().join("error"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let status: u16 = name[..3].parse().unwrap();
        let body = std::fs::read_to_string(path).unwrap();
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
    assert_eq!(server.requests().len(), files.len());
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
    let mut conv = openai_hooks::model::parts::EventConverter::new(std::time::Instant::now());
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
    conv.finish(&mut out).unwrap();
    let calls = tool_calls(&out);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].2, "{\"x\":1}");
    assert_eq!(calls[1].0, "b");
    assert_eq!(calls[1].2, "{}");
}

/// A stream that fails after its finish reason (here the connection is
/// reset where the usage chunk would come) still delivers the whole reply:
/// its tool calls and `MessageStop`, then the error, and no metadata.
#[tokio::test]
async fn a_failure_after_the_finish_reason_still_delivers_the_stop() {
    let server = LocalServer::start().await.unwrap();
    // Events: the role chunk, two argument fragments, the finish chunk;
    // the reset comes where the usage chunk would.
    server.push(
        Reply::tool_calls([openai_hooks::server::ToolCallSpec::new(
            "lookup",
            serde_json::json!({"city": "Paris"}),
        )])
        .chunks(2)
        .fault(Fault::ResetAfter { after: 4 }),
    );
    let (got, err) = events(&model(&server, true)).await;
    let err = err.expect("the reset ends the stream with an error");
    assert!(
        matches!(err, ModelError::Client(ClientError::Transport { .. })),
        "{err:?}"
    );
    let calls = tool_calls(&got);
    assert_eq!(calls.len(), 1, "{got:?}");
    assert_eq!(calls[0].1, "lookup");
    assert_eq!(
        serde_json::from_str::<Value>(&calls[0].2).unwrap(),
        serde_json::json!({"city": "Paris"})
    );
    assert!(
        matches!(
            got.last(),
            Some(StreamEvent::MessageStop {
                stop_reason: StopReason::ToolUse
            })
        ),
        "{got:?}"
    );
    assert!(
        !got.iter()
            .any(|e| matches!(e, StreamEvent::Metadata { .. })),
        "no metadata for a reply whose stream failed"
    );

    // Cut before the finish reason: no stop, just the error.
    server.push(
        Reply::text("one two three")
            .chunks(3)
            .fault(Fault::ResetAfter { after: 2 }),
    );
    let (got, err) = events(&model(&server, true)).await;
    assert!(err.is_some());
    assert!(
        !got.iter()
            .any(|e| matches!(e, StreamEvent::MessageStop { .. })),
        "{got:?}"
    );
}

/// Runs `chunks` through an `EventConverter` to its end.
fn convert(chunks: Vec<Value>) -> (Vec<StreamEvent>, Result<(), ModelError>) {
    let mut conv = openai_hooks::model::parts::EventConverter::new(std::time::Instant::now());
    let mut out = Vec::new();
    for c in chunks {
        let chunk: openai_hooks::ChatChunk = serde_json::from_value(c).unwrap();
        if let Err(e) = conv.push(&chunk, &mut out) {
            return (out, Err(e));
        }
    }
    let end = conv.finish(&mut out);
    (out, end)
}

fn call_chunk(index: usize, id: &str, args: &str) -> Value {
    serde_json::json!({"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": index, "id": id, "function": {"name": "f", "arguments": args}}]}}]})
}

fn finish_chunk() -> Value {
    serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
}

fn limit_of(err: &ModelError) -> (&'static str, u64) {
    match err {
        ModelError::Client(ClientError::LimitExceeded { what, limit }) => (what, *limit),
        other => panic!("not a limit: {other:?}"),
    }
}

#[test]
fn tool_calls_past_the_limit_are_an_error() {
    use openai_hooks::limits::MAX_TOOL_CALLS;
    // By index, and by id at one index: both count.
    for by_id in [false, true] {
        let chunk = |i: usize| call_chunk(if by_id { 0 } else { i }, &format!("call_{i}"), "{}");
        let mut chunks: Vec<_> = (0..MAX_TOOL_CALLS).map(chunk).collect();
        chunks.push(finish_chunk());
        let (out, end) = convert(chunks.clone());
        end.unwrap();
        assert_eq!(tool_calls(&out).len(), MAX_TOOL_CALLS);

        chunks.insert(MAX_TOOL_CALLS, chunk(MAX_TOOL_CALLS));
        let (out, end) = convert(chunks);
        let err = end.unwrap_err();
        assert_eq!(
            limit_of(&err),
            ("tool calls per choice", MAX_TOOL_CALLS as u64)
        );
        assert!(tool_calls(&out).is_empty(), "no partial reply: {out:?}");
    }
}

#[test]
fn tool_arguments_past_the_limit_are_an_error() {
    use openai_hooks::limits::MAX_TOOL_ARGUMENT_BYTES;
    let piece = "x".repeat(MAX_TOOL_ARGUMENT_BYTES / 4);
    let mut chunks = vec![call_chunk(0, "a", "")];
    chunks.extend((0..4).map(|_| call_chunk(0, "a", &piece)));
    chunks.push(finish_chunk());
    let (out, end) = convert(chunks.clone());
    end.unwrap();
    let calls = tool_calls(&out);
    assert_eq!(calls[0].2.len(), MAX_TOOL_ARGUMENT_BYTES);
    // The fragments come out as they came in.
    let fragments = out
        .iter()
        .filter(|e| {
            matches!(
                e,
                StreamEvent::ContentBlockDelta(BlockDelta::ToolUseInput(_))
            )
        })
        .count();
    assert_eq!(fragments, 4);

    chunks.insert(5, call_chunk(0, "a", "y"));
    let (_, end) = convert(chunks);
    assert_eq!(
        limit_of(&end.unwrap_err()),
        (
            "tool-argument bytes per call",
            MAX_TOOL_ARGUMENT_BYTES as u64
        )
    );
}
