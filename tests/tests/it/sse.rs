//! `sse::ModelSse` end to end: an axum router served on loopback, a guarded
//! `OpenAIModel` behind it on the local server, and a real HTTP client.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use openai_hooks::async_openai::Client;
use openai_hooks::async_openai::config::OpenAIConfig;
use openai_hooks::guardrails::Keywords;
use openai_hooks::model::{Fixed, Message, OpenAIModel};
use openai_hooks::openai_client;
use openai_hooks::server::{LocalServer, Reply, ToolCallSpec};
use openai_hooks::sse::ModelSse;
use openai_hooks::transport::{RetryPolicy, Transport};
use serde_json::{Value, json};

#[openai_client]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
    #[pre_request]
    #[on_chunk]
    codenames: Keywords,
}

type Model = OpenAIModel<Fixed<Guarded>>;

async fn chat(State(model): State<Arc<Model>>, prompt: String) -> Response {
    let events = model.stream_owned(vec![Message::user(prompt)], Vec::new(), None, None);
    ModelSse::new(events).into_response().await
}

/// The local model server, and the app's address.
async fn app() -> (LocalServer, String) {
    let upstream = LocalServer::start().await.unwrap();
    let client = Transport::builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
        .client(OpenAIConfig::new().with_api_base(upstream.base_url()));
    let guarded = Guarded {
        client,
        codenames: Keywords::new(["project zephyr"]).unwrap(),
    };
    let model = Arc::new(
        OpenAIModel::builder("gpt-4o-mini")
            .client(guarded)
            .build()
            .unwrap(),
    );
    let router = Router::new().route("/chat", post(chat)).with_state(model);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (upstream, format!("http://{addr}/chat"))
}

/// The SSE events of a body: (event type, data).
fn sse_events(body: &str) -> Vec<(String, String)> {
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .filter_map(|block| {
            let mut kind = "message".to_owned();
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    kind = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push(v);
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v);
                }
            }
            (!data.is_empty()).then(|| (kind, data.join("\n")))
        })
        .collect()
}

async fn post_prompt(url: &str, prompt: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .body(prompt.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_reply_streams_as_events_and_ends_with_done() {
    let (upstream, url) = app().await;
    upstream.push(Reply::text("Hello\nthere").chunks(3));
    let response = post_prompt(&url, "hi").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = sse_events(&response.text().await.unwrap());
    let text: String = events
        .iter()
        .filter(|(k, _)| k == "message")
        .map(|(_, d)| d.as_str())
        .collect();
    assert_eq!(text, "Hello\nthere");
    let kinds: Vec<&str> = events
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| *k != "message")
        .collect();
    assert_eq!(kinds, ["stop", "usage", "done"]);
    let stop: Value = serde_json::from_str(&events[events.len() - 3].1).unwrap();
    assert_eq!(stop["reason"], "end_turn");

    upstream.push(Reply::tool_calls([ToolCallSpec::new("lookup", json!({"q": "rust"}))]).chunks(3));
    let events = sse_events(&post_prompt(&url, "hi").await.text().await.unwrap());
    let tool = events
        .iter()
        .find(|(k, _)| k == "tool_use")
        .expect("a tool_use event");
    let tool: Value = serde_json::from_str(&tool.1).unwrap();
    assert_eq!(
        (tool["name"].clone(), tool["input"].clone()),
        (json!("lookup"), json!({"q": "rust"}))
    );
    upstream.shutdown().await;
}

#[tokio::test]
async fn an_error_before_the_first_event_is_the_status() {
    let (upstream, url) = app().await;

    upstream.push(
        Reply::error(
            429,
            "rate_limit_exceeded",
            "Slow down, key sk-proj-leakedAbCdEf0123456789",
        )
        .retry_after(7),
    );
    let response = post_prompt(&url, "hi").await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    let body = response.text().await.unwrap();
    assert!(
        !body.contains("leaked") && !body.contains("Slow down"),
        "{body}"
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], 429);

    upstream.push(Reply::error(
        400,
        "context_length_exceeded",
        "This model's maximum context length is 8192 tokens",
    ));
    assert_eq!(post_prompt(&url, "hi").await.status(), 400);

    upstream.push(Reply::error(500, "server_error", "boom"));
    assert_eq!(post_prompt(&url, "hi").await.status(), 502);

    // An exhausted quota: no wait fixes it, so it is not a 429.
    upstream.push(Reply::error(
        429,
        "insufficient_quota",
        "You exceeded your current quota",
    ));
    let response = post_prompt(&url, "hi").await;
    assert_eq!(response.status(), 502);
    assert!(response.headers().get("retry-after").is_none());

    // A tripwire on the input: nothing is sent, and the codename is not
    // in the response.
    let response = post_prompt(&url, "tell me about Project Zephyr").await;
    assert_eq!(response.status(), 422);
    let body = response.text().await.unwrap();
    assert!(!body.to_lowercase().contains("zephyr"), "{body}");
    assert_eq!(
        upstream.requests().len(),
        4,
        "the tripped request never left"
    );
    upstream.shutdown().await;
}

#[tokio::test]
async fn an_error_after_the_first_event_is_a_last_error_event() {
    let (upstream, url) = app().await;
    upstream.push(Reply::text("The plan is called Project Zephyr and ships soon.").chunks(9));
    let response = post_prompt(&url, "what is the plan?").await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert!(!body.to_lowercase().contains("zephyr"), "{body}");
    let events = sse_events(&body);
    let (kind, data) = events.last().unwrap();
    assert_eq!(kind, "error", "{events:?}");
    let data: Value = serde_json::from_str(data).unwrap();
    assert_eq!(data["error"]["code"], 422);
    assert!(
        events.iter().all(|(k, _)| k != "done"),
        "nothing follows the error"
    );
    upstream.shutdown().await;
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_the_upstream_call() {
    let (upstream, url) = app().await;
    upstream.push(
        Reply::text("one two three four five six seven eight nine ten")
            .chunks(10)
            .chunk_delay(Duration::from_millis(300)),
    );
    let mut response = post_prompt(&url, "count").await;
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap();
    assert!(first.is_some());
    assert_eq!(upstream.connections_open(), 1);
    drop(response);
    assert!(
        upstream
            .wait_for_connections_open(0, Duration::from_secs(5))
            .await,
        "the upstream call kept going after the client left"
    );
    upstream.shutdown().await;
}

/// The body of `ModelSse` over `events`, without keep-alives.
async fn body_of(
    events: Vec<Result<openai_hooks::model::StreamEvent, openai_hooks::model::ModelError>>,
    tail: impl futures::Stream<
        Item = Result<openai_hooks::model::StreamEvent, openai_hooks::model::ModelError>,
    > + Send
    + 'static,
) -> String {
    use futures::StreamExt;
    let events = futures::stream::iter(events).chain(tail);
    let response = ModelSse::new(events).keep_alive(None).into_response().await;
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The data of each event, read as the SSE spec reads lines: a line ends
/// at CRLF, LF or CR.
fn spec_data(body: &str) -> Vec<String> {
    let (mut out, mut data, mut any) = (Vec::new(), String::new(), false);
    let normalized = body.replace("\r\n", "\n").replace('\r', "\n");
    for line in normalized.split('\n') {
        if line.is_empty() {
            if any {
                data.pop();
                out.push(std::mem::take(&mut data));
                any = false;
            }
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
            data.push('\n');
            any = true;
        }
    }
    out
}

#[tokio::test]
async fn a_text_delta_with_crlf_arrives_with_one_line_break() {
    use openai_hooks::model::{BlockDelta, StreamEvent};
    let text = |t: &str| Ok(StreamEvent::ContentBlockDelta(BlockDelta::Text(t.into())));
    let body = body_of(
        vec![
            text("one\r\ntwo"),
            text("three\nfour"),
            text("five\r"),
            text("\nsix\rseven"),
        ],
        futures::stream::empty(),
    )
    .await;
    let data = spec_data(&body);
    assert_eq!(data[0], "one\ntwo", "{body:?}");
    assert_eq!(data[1], "three\nfour", "{body:?}");
    // A CRLF cut between two deltas is still one line break.
    assert_eq!(
        format!("{}{}", data[2], data[3]),
        "five\nsix\nseven",
        "{body:?}"
    );
}

#[tokio::test]
async fn the_response_ends_at_an_error_even_if_the_stream_does_not() {
    use openai_hooks::model::{BlockDelta, ModelError, StreamEvent};
    let text = |t: &str| Ok(StreamEvent::ContentBlockDelta(BlockDelta::Text(t.into())));
    // A stream that never ends after its error: the body must still end.
    let body = tokio::time::timeout(
        Duration::from_secs(5),
        body_of(
            vec![text("hi"), Err(ModelError::Config("x".into()))],
            futures::stream::pending(),
        ),
    )
    .await
    .expect("the response kept going after its last event: error");
    assert!(body.contains("event: error"), "{body}");
}

#[tokio::test]
async fn a_zero_keep_alive_is_none_not_a_flood() {
    use futures::StreamExt;
    use openai_hooks::model::{BlockDelta, StreamEvent};
    let events = futures::stream::iter([Ok(StreamEvent::ContentBlockDelta(BlockDelta::Text(
        "hi".into(),
    )))])
    .chain(
        futures::stream::once(tokio::time::sleep(Duration::from_millis(100)))
            .filter_map(|()| async { None }),
    );
    let response = ModelSse::new(events)
        .keep_alive(Some(Duration::ZERO))
        .into_response()
        .await;
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(body.matches(":\n\n").count() <= 1, "{} bytes", body.len());
}
