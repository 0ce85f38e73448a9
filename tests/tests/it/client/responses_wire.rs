//! `ResponsesClient` for async-openai's client over HTTP, plain and on a
//! `Transport`, against the local server's `/v1/responses`: scripted
//! replies, every recorded-shape fixture, and the ways a stream can end.

use futures::StreamExt;
use openai_hooks::async_openai::config::OpenAIConfig;
use openai_hooks::async_openai::types::responses::{CreateResponse, CreateResponseArgs};
use openai_hooks::server::{LocalServer, Reply, ToolCallSpec};
use openai_hooks::transport::{RetryPolicy, Transport};
use openai_hooks::types::responses::{ResponseEvent, ResponseStatus};
use openai_hooks::{ClientError, ResponsesClient};
use serde_json::json;

use crate::support::fixtures_dir;

type Client = openai_hooks::async_openai::Client<OpenAIConfig>;

const KEY: &str = "sk-proj-responsesWireKey0123456789abcdef";

fn config(server: &LocalServer) -> OpenAIConfig {
    OpenAIConfig::new()
        .with_api_base(server.base_url())
        .with_api_key(KEY)
}

/// The two ways a client reads a stream: async-openai's own reader, and
/// the transport's handoff.
fn clients(server: &LocalServer) -> [(&'static str, Client); 2] {
    let transport = Transport::builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    [
        ("plain", Client::with_config(config(server))),
        ("transport", transport.client(config(server))),
    ]
}

fn request() -> CreateResponse {
    CreateResponseArgs::default()
        .model("gpt-4.1-mini")
        .input("hello")
        .build()
        .unwrap()
}

async fn collect(client: &Client) -> (Vec<ResponseEvent>, Option<ClientError>) {
    let mut stream = match client.create_stream(request()).await {
        Ok(s) => s,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(e) => events.push(e),
            Err(e) => {
                assert!(stream.next().await.is_none(), "an item after the error");
                return (events, Some(e));
            }
        }
    }
    (events, None)
}

fn text(events: &[ResponseEvent]) -> String {
    events
        .iter()
        .filter(|e| e.kind == "response.output_text.delta")
        .filter_map(ResponseEvent::delta_text)
        .collect()
}

#[tokio::test]
async fn create_and_create_stream_through_both_readers() {
    let server = LocalServer::start().await.unwrap();
    for (how, client) in clients(&server) {
        server.push(Reply::text("Hello there").chunks(5));
        let reply = client.create(request()).await.unwrap();
        assert_eq!(reply.output_text(), "Hello there", "{how}");
        assert_eq!(reply.status, Some(ResponseStatus::Completed), "{how}");
        assert!(
            reply.usage.as_ref().and_then(|u| u.output_tokens).is_some(),
            "{how}"
        );

        server.push(Reply::text("Hello there").chunks(5));
        let (events, end) = collect(&client).await;
        assert!(end.is_none(), "{how}: {end:?}");
        assert_eq!(text(&events), "Hello there", "{how}");
        assert_eq!(events.last().unwrap().kind, "response.completed", "{how}");
        let sent = server.requests().pop().unwrap();
        assert_eq!(sent.body["stream"], true, "{how}: the stream was asked for");
        assert_eq!(sent.body["input"], "hello", "{how}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn function_call_arguments_stream_by_item() {
    let server = LocalServer::start().await.unwrap();
    for (how, client) in clients(&server) {
        server
            .push(Reply::tool_calls([ToolCallSpec::new("lookup", json!({"q": "rust"}))]).chunks(4));
        let (events, end) = collect(&client).await;
        assert!(end.is_none(), "{how}: {end:?}");
        let args: String = events
            .iter()
            .filter(|e| e.kind == "response.function_call_arguments.delta")
            .filter_map(ResponseEvent::delta_text)
            .collect();
        assert_eq!(args, r#"{"q":"rust"}"#, "{how}");
        let done = events.last().unwrap().response.as_ref().unwrap();
        assert_eq!(
            done.output[0].call_id.as_deref(),
            Some("call_lookup"),
            "{how}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn every_ending_is_typed() {
    let server = LocalServer::start().await.unwrap();
    for (how, client) in clients(&server) {
        server.push(Reply::text("cut short here").no_terminal_event());
        let (events, end) = collect(&client).await;
        assert!(
            matches!(end, Some(ClientError::Truncated { .. })),
            "{how}: {end:?}"
        );
        assert!(!events.is_empty(), "{how}");

        server.push(Reply::text("a b c").stream_error(
            "rate_limit_exceeded",
            "Rate limit reached, key sk-proj-leakedKeyAbCdEf0123456789",
        ));
        let (events, end) = collect(&client).await;
        assert_eq!(
            events.last().unwrap().kind,
            "error",
            "{how}: the error event is passed on"
        );
        match end {
            Some(ClientError::Api(api)) => {
                assert!(api.is_throttling(), "{how}: {api:?}");
                assert!(!api.message.contains("leakedKey"), "{how}: {}", api.message);
            }
            other => panic!("{how}: {other:?}"),
        }

        server.push(Reply::text("a b c").failed("server_error", "The model failed"));
        let (events, end) = collect(&client).await;
        assert_eq!(events.last().unwrap().kind, "response.failed", "{how}");
        assert!(
            matches!(&end, Some(ClientError::Api(a)) if a.code.as_deref() == Some("server_error")),
            "{how}: {end:?}"
        );

        server.push(Reply::text("a b c d e f").incomplete("max_output_tokens"));
        let (events, end) = collect(&client).await;
        assert!(
            end.is_none(),
            "{how}: incomplete is an ending, not an error: {end:?}"
        );
        let last = events.last().unwrap().response.as_ref().unwrap();
        assert_eq!(last.status, Some(ResponseStatus::Incomplete), "{how}");
        assert_eq!(
            last.incomplete_details
                .as_ref()
                .and_then(|d| d.reason.as_deref()),
            Some("max_output_tokens"),
            "{how}"
        );

        // A failed response sent whole is an error too.
        server.push(Reply::text("x").failed("server_error", "The model failed"));
        let err = client.create(request()).await.unwrap_err();
        assert!(matches!(&err, ClientError::Api(_)), "{how}: {err:?}");

        // An error status before any event: no event, a typed error (at
        // the call or as the stream's only item, depending on the reader).
        server.push(Reply::error(400, "invalid_value", "Bad input"));
        let (events, end) = collect(&client).await;
        assert!(events.is_empty(), "{how}");
        assert!(
            matches!(&end, Some(ClientError::Api(a)) if a.status == Some(400) && a.message == "Bad input"),
            "{how}: {end:?}"
        );
    }
    server.shutdown().await;
}

/// How each `.sse` fixture must end through `create_stream`.
fn expected_end(name: &str) -> &'static str {
    match name {
        "no-terminal-event" => "truncated",
        "error-rate-limit" | "error-context-length" | "failed" => "api",
        _ => "ok",
    }
}

#[tokio::test]
async fn every_fixture_reads_through_both_readers() {
    let server = LocalServer::start().await.unwrap();
    let dir = fixtures_dir().join("responses");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut streams = 0;
    for path in &files {
        let name = path.file_stem().unwrap().to_str().unwrap();
        for (how, client) in clients(&server) {
            server.push(Reply::fixture(path));
            if path.extension().unwrap() == "json" {
                match client.create(request()).await {
                    Ok(reply) => {
                        assert_ne!(reply.status, Some(ResponseStatus::Failed), "{name} {how}")
                    }
                    Err(e) => assert_eq!(name, "failed", "{how}: {e:?}"),
                }
                continue;
            }
            streams += 1;
            let (events, end) = collect(&client).await;
            let got = match &end {
                None => "ok",
                Some(ClientError::Truncated { .. }) => "truncated",
                Some(ClientError::Api(_)) => "api",
                Some(other) => panic!("{name} {how}: {other:?}"),
            };
            assert_eq!(got, expected_end(name), "{name} {how}: {end:?}");
            assert!(
                events.iter().all(|e| e.kind != "keepalive"),
                "{name} {how}: keepalives are dropped"
            );
            if name == "unknown-event" {
                assert!(
                    events
                        .iter()
                        .any(|e| e.kind == "response.future_feature.progress"),
                    "{how}: the unknown event passed through"
                );
            }
            if name == "obfuscation" {
                assert!(
                    events.iter().any(|e| e.extra.contains_key("obfuscation")),
                    "{how}: obfuscation kept"
                );
            }
            if got == "ok" {
                let last = events.last().unwrap();
                assert!(last.is_terminal(), "{name} {how}: ends on {}", last.kind);
            }
        }
    }
    assert!(streams >= 2 * 18, "{streams} streams read");
    server.shutdown().await;
}
