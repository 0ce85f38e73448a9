//! The local server, driven by real clients on 127.0.0.1.

use std::time::{Duration, Instant};

use futures::StreamExt;
use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::middleware::Timeout;
use openai_hooks::server::{Fault, LocalServer, Reply, ToolCallSpec};
use openai_hooks::transport::{RetryPolicy, Transport};
use openai_hooks::{ChatChunk, ChatClient, ChatRequest, ClientError, FinishReason};
use serde_json::{Value, json};

use crate::support::fixtures_dir;

fn request(stream_usage: bool) -> ChatRequest {
    let mut v =
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello server"}]});
    if stream_usage {
        v["stream_options"] = json!({"include_usage": true});
    }
    serde_json::from_value(v).unwrap()
}

/// A client that does not retry, so every scripted reply is seen once.
fn client(server: &LocalServer) -> Client<OpenAIConfig> {
    Transport::builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
        .client(
            OpenAIConfig::new()
                .with_api_base(server.base_url())
                .with_api_key("k"),
        )
}

async fn drain(
    client: &impl ChatClient,
    req: ChatRequest,
) -> (Vec<ChatChunk>, Option<ClientError>) {
    let mut stream = client.create_stream(req).await.unwrap();
    let mut chunks = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(c) => chunks.push(c),
            Err(e) => return (chunks, Some(e)),
        }
    }
    (chunks, None)
}

fn text_of(chunks: &[ChatChunk]) -> String {
    chunks.iter().filter_map(|c| c.content()).collect()
}

#[tokio::test]
async fn json_and_stream_replies_with_usage_on_request() {
    let server = LocalServer::start().await.unwrap();
    let c = client(&server);

    server.push(Reply::text("one two three").usage(7, 3));
    let reply = c.create(request(false)).await.unwrap();
    assert_eq!(reply.content(), Some("one two three"));
    assert_eq!(reply.usage.unwrap().total_tokens, 10);
    assert_eq!(reply.choices[0].finish_reason, Some(FinishReason::Stop));

    server.push(Reply::text("one two three").chunks(3));
    let (chunks, err) = drain(&c, request(false)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text_of(&chunks), "one two three");
    // role chunk + 3 content + finish, and no usage chunk unless asked.
    assert_eq!(chunks.len(), 5);
    assert!(chunks.iter().all(|c| c.usage.is_none()));

    server.push(Reply::text("one two three").chunks(3));
    let (chunks, _) = drain(&c, request(true)).await;
    let last = chunks.last().unwrap();
    assert!(last.choices.is_empty() && last.usage.is_some(), "{last:?}");

    // The default reply echoes the last user message.
    let (chunks, _) = drain(&c, request(false)).await;
    assert_eq!(text_of(&chunks), "hello server");
    server.shutdown().await;
}

#[tokio::test]
async fn tool_call_fragments_reassemble_to_the_arguments() {
    let server = LocalServer::start().await.unwrap();
    let c = client(&server);
    let args = json!({"city": "Paris", "unit": "celsius", "days": [1, 2, 3]});
    server.push(
        Reply::tool_calls([
            ToolCallSpec::new("get_weather", args.clone()),
            ToolCallSpec::new("get_time", json!({})),
        ])
        .fragments(5),
    );
    let (chunks, err) = drain(&c, request(false)).await;
    assert!(err.is_none(), "{err:?}");
    let mut assembled = [String::new(), String::new()];
    for call in chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter_map(|c| c.delta.tool_calls.as_ref())
        .flatten()
    {
        let piece = call
            .function
            .as_ref()
            .and_then(|f| f.arguments.as_deref())
            .unwrap_or_default();
        assembled[call.index as usize].push_str(piece);
    }
    assert_eq!(serde_json::from_str::<Value>(&assembled[0]).unwrap(), args);
    assert_eq!(assembled[1], "{}");
    let finish = chunks
        .iter()
        .flat_map(|c| &c.choices)
        .find_map(|c| c.finish_reason.clone());
    assert_eq!(finish, Some(FinishReason::ToolCalls));

    server.push(Reply::tool_calls([ToolCallSpec::new(
        "get_weather",
        args.clone(),
    )]));
    let reply = c.create(request(false)).await.unwrap();
    let calls = reply.choices[0].message.tool_calls.as_ref().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&calls[0].function.arguments).unwrap(),
        args
    );
    server.shutdown().await;
}

#[tokio::test]
async fn refusal_reaches_the_client() {
    let server = LocalServer::start().await.unwrap();
    let c = client(&server);
    server.push(Reply::refusal("I can't help with that.").chunks(3));
    let (chunks, err) = drain(&c, request(false)).await;
    assert!(err.is_none(), "{err:?}");
    let refusal: String = chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter_map(|c| c.delta.refusal.as_deref())
        .collect();
    assert_eq!(refusal, "I can't help with that.");
    server.push(Reply::refusal("No."));
    let reply = c.create(request(false)).await.unwrap();
    assert_eq!(reply.choices[0].message.refusal.as_deref(), Some("No."));
    assert_eq!(reply.content(), None);
    server.shutdown().await;
}

#[tokio::test]
async fn errors_keep_status_code_and_retry_after() {
    let server = LocalServer::start().await.unwrap();
    let c = client(&server);
    server.push(Reply::error(429, "rate_limit_exceeded", "Slow down").retry_after(7));
    let err = c.create(request(false)).await.unwrap_err();
    let api = err.api().expect("an API error");
    assert_eq!(api.status, Some(429));
    assert_eq!(api.code.as_deref(), Some("rate_limit_exceeded"));
    assert_eq!(api.retry_after, Some(Duration::from_secs(7)));
    assert!(api.is_throttling());

    server.push(Reply::error(
        400,
        "context_length_exceeded",
        "This model's maximum context length is 8 tokens.",
    ));
    let err = c
        .create_stream(request(false))
        .await
        .err()
        .expect("an error");
    assert!(err.api().unwrap().is_context_window_overflow());

    server.push(Reply::raw(200, "text/html", "<html>captive portal</html>"));
    let err = c.create(request(false)).await.unwrap_err();
    let ClientError::Decode { snippet, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(snippet.contains("captive portal"));
    server.shutdown().await;
}

#[tokio::test]
async fn retries_follow_the_policy_and_retry_after() {
    let server = LocalServer::start().await.unwrap();
    let c = Transport::builder()
        .retry(
            RetryPolicy::default()
                .max_retries(2)
                .initial_backoff(Duration::from_millis(1)),
        )
        .build()
        .unwrap()
        .client(OpenAIConfig::new().with_api_base(server.base_url()));
    server.push(Reply::error(503, "overloaded", "busy"));
    server.push(Reply::error(429, "rate_limit_exceeded", "wait").retry_after(0));
    server.push(Reply::text("finally"));
    let reply = c.create(request(false)).await.unwrap();
    assert_eq!(reply.content(), Some("finally"));
    assert_eq!(server.requests().len(), 3);

    server.push(Reply::error(
        429,
        "insufficient_quota",
        "You exceeded your current quota",
    ));
    let err = c.create(request(false)).await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_eq!(
        server.requests().len(),
        4,
        "insufficient_quota is not retried"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn faults_end_streams_with_typed_errors() {
    let server = LocalServer::start().await.unwrap();
    let c = client(&server);

    server.push(
        Reply::text("a b c d e")
            .chunks(5)
            .fault(Fault::MalformedLine { after: 2 }),
    );
    let (chunks, err) = drain(&c, request(false)).await;
    assert_eq!(chunks.len(), 2);
    let Some(ClientError::Decode { snippet, what, .. }) = err else {
        panic!("{err:?}")
    };
    assert_eq!(what, "stream chunk");
    assert!(snippet.contains("not json"), "names the line: {snippet}");

    server.push(
        Reply::text("a b c d e")
            .chunks(5)
            .fault(Fault::CutBeforeDone { after: 3 }),
    );
    let (chunks, err) = drain(&c, request(false)).await;
    assert_eq!(chunks.len(), 3);
    assert!(
        matches!(err, Some(ClientError::Truncated { chunks: 3 })),
        "{err:?}"
    );

    server.push(
        Reply::text("a b c d e")
            .chunks(5)
            .fault(Fault::ResetAfter { after: 2 }),
    );
    let (chunks, err) = drain(&c, request(false)).await;
    assert_eq!(chunks.len(), 2, "chunks before the reset are delivered");
    assert!(
        matches!(err, Some(ClientError::Transport { .. })),
        "{err:?}"
    );

    server.push(Reply::text("x").fault(Fault::ResetBeforeResponse));
    let err = c.create(request(false)).await.unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn delays_and_time_limits() {
    let server = LocalServer::start().await.unwrap();
    let limited = Transport::builder()
        .retry(RetryPolicy::none())
        .first_byte_timeout(Duration::from_millis(100))
        .build()
        .unwrap()
        .client(OpenAIConfig::new().with_api_base(server.base_url()));

    server.push(Reply::text("late").first_byte_delay(Duration::from_secs(2)));
    let err = limited.create(request(false)).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Timeout {
                what: "response headers",
                ..
            }
        ),
        "{err:?}"
    );

    server.push(Reply::text("x").fault(Fault::Stall));
    let idle = Timeout::new(client(&server)).idle(Duration::from_millis(200));
    let (chunks, err) = drain(&idle, request(false)).await;
    assert!(chunks.is_empty());
    assert!(
        matches!(
            err,
            Some(ClientError::Timeout {
                what: "next chunk",
                ..
            })
        ),
        "{err:?}"
    );
    assert!(
        server
            .wait_for_connections_open(0, Duration::from_secs(5))
            .await,
        "the stalled connection is closed while its client lives on"
    );
    drop(idle);

    // Pacing: the stream takes at least the scripted delays.
    let started = Instant::now();
    server.push(
        Reply::text("a b c")
            .chunks(3)
            .chunk_delay(Duration::from_millis(20)),
    );
    let (chunks, err) = drain(&client(&server), request(false)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text_of(&chunks), "a b c");
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "6 events × 20 ms"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn connections_are_counted_and_reused() {
    let server = LocalServer::start().await.unwrap();
    let one = client(&server);
    for _ in 0..3 {
        one.create(request(false)).await.unwrap();
    }
    assert_eq!(
        server.connections_accepted(),
        1,
        "keep-alive reuses one connection"
    );
    let two = client(&server);
    two.create(request(false)).await.unwrap();
    assert_eq!(server.connections_accepted(), 2);
    assert_eq!(server.connections_open(), 2);
    drop((one, two));
    assert!(
        server
            .wait_for_connections_open(0, Duration::from_secs(5))
            .await
    );
    server.shutdown().await;
}

#[tokio::test]
async fn request_log_keeps_headers_and_bodies_and_rejects_bad_json() {
    let server = LocalServer::start().await.unwrap();
    let c = Transport::builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
        .client(
            OpenAIConfig::new()
                .with_api_base(server.base_url())
                .with_header("x-client-id", "client-7")
                .unwrap(),
        );
    c.create(request(false)).await.unwrap();
    let logged = &server.requests()[0];
    assert_eq!(logged.method, "POST");
    assert_eq!(logged.path, "/v1/chat/completions");
    assert_eq!(logged.headers["x-client-id"], "client-7");
    assert_eq!(logged.body["messages"][0]["content"], "hello server");

    let http = reqwest::Client::new();
    let url = format!("{}/chat/completions", server.base_url());
    let r = http.post(&url).body("{oops").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let r = http
        .post(&url)
        .json(&json!({"model": "m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["param"],
        "messages"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn every_fixture_replays_byte_for_byte() {
    let server = LocalServer::start().await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/chat/completions", server.base_url());
    let mut replayed = 0;
    for kind in ["stream", "response"] {
        for entry in std::fs::read_dir(fixtures_dir().join(kind)).unwrap() {
            let path = entry.unwrap().path();
            server.push(Reply::fixture(&path));
            let body = http
                .post(&url)
                .json(&json!({"model": "m", "messages": [], "stream": kind == "stream"}))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            assert_eq!(
                body.as_ref(),
                std::fs::read(&path).unwrap(),
                "{}",
                path.display()
            );
            replayed += 1;
        }
    }
    assert_eq!(replayed, 25);
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_releases_the_port() {
    let server = LocalServer::start().await.unwrap();
    let addr = server.addr();
    server.push(Reply::text("x").fault(Fault::Stall));
    let c = client(&server);
    let stalled = tokio::spawn(async move { drain(&c, request(false)).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.shutdown().await;
    // The stalled stream ends (shutdown ends stalls) and the port is free.
    let (_, err) = tokio::time::timeout(Duration::from_secs(10), stalled)
        .await
        .unwrap()
        .unwrap();
    assert!(
        err.is_some(),
        "a stall cut by shutdown is an error, not a reply"
    );
    std::net::TcpListener::bind(addr).expect("port released");
}

#[tokio::test]
async fn moderations_answer_in_openai_shape() {
    use openai_hooks::async_openai::types::moderations::{
        CreateModerationRequestArgs, ModerationInput,
    };
    use openai_hooks::server::ModerationReply;
    let server = LocalServer::start().await.unwrap();
    let c = client(&server);
    server.push_moderation(ModerationReply::flagged(["violence", "custom/extra"]));
    let req = CreateModerationRequestArgs::default()
        .input(ModerationInput::StringArray(vec!["a".into(), "b".into()]))
        .model("omni-moderation-latest")
        .build()
        .unwrap();
    // async-openai's own strict types: every category must be present.
    let reply = c.moderations().create(req.clone()).await.unwrap();
    assert_eq!(reply.results.len(), 2);
    assert!(reply.results[0].flagged && reply.results[0].categories.violence);
    assert!(!reply.results[1].categories.hate);
    // None queued: clean.
    let reply = c.moderations().create(req).await.unwrap();
    assert!(!reply.results[0].flagged);
    let raw: Vec<_> = server.requests();
    assert_eq!(raw[0].path, "/v1/moderations");
    assert_eq!(raw[0].body["input"], json!(["a", "b"]));

    server.push_moderation(ModerationReply::error(503, "overloaded", "later"));
    // Through the guardrails' moderation client: a typed API error.
    use openai_hooks::guardrails::ModerationClient;
    let err = c
        .moderate(vec!["x".into()], "omni-moderation-latest")
        .await
        .unwrap_err();
    let api = err.api().expect("an API error");
    assert_eq!(
        (api.status, api.code.as_deref()),
        (Some(503), Some("overloaded"))
    );
    assert_eq!(api.message, "later");
    server.shutdown().await;
}

#[tokio::test]
async fn tool_calls_must_be_answered_by_tool_messages_right_after() {
    let server = LocalServer::start().await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/chat/completions", server.base_url());
    let call = |id: &str| json!({"id": id, "type": "function", "function": {"name": "f", "arguments": "{}"}});
    let assistant = json!({"role": "assistant", "content": null, "tool_calls": [call("call_a"), call("call_b")]});
    let tool = |id: &str| json!({"role": "tool", "tool_call_id": id, "content": "done"});
    let user = json!({"role": "user", "content": "and?"});
    let send = |messages: Vec<Value>| {
        let req = http
            .post(&url)
            .json(&json!({"model": "m", "messages": messages}));
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };

    // Answered in any order, right after: accepted.
    let (status, _) = send(vec![
        user.clone(),
        assistant.clone(),
        tool("call_b"),
        tool("call_a"),
        user.clone(),
    ])
    .await;
    assert_eq!(status, 200);

    // A user message between the two answers (as images of tool results
    // once were formatted): rejected as OpenAI does.
    let (status, body) = send(vec![
        user.clone(),
        assistant.clone(),
        tool("call_a"),
        user.clone(),
        tool("call_b"),
    ])
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: call_b"
    );
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], "messages.[3].role");
    assert!(body["error"]["code"].is_null());

    // Not answered at all.
    let (status, body) = send(vec![user.clone(), assistant.clone()]).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("did not have response messages: call_a, call_b"),
        "{body}"
    );

    // Through the typed client: an API error with status 400.
    let c = client(&server);
    let req: ChatRequest =
        serde_json::from_value(json!({"model": "m", "messages": [user, assistant]})).unwrap();
    let err = c.create(req).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err:?}");
    server.shutdown().await;
}
