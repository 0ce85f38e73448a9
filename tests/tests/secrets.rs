//! No API key ever appears in an error's `Display` or `Debug`, whatever the
//! server echoes back and whichever transport carried it.

use futures::StreamExt;
use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks::transport::{RetryPolicy, Transport};
use openai_hooks::{ChatClient, ChatRequest, ClientError};
use serde_json::json;

const KEY: &str = "sk-proj-Zx81bQ7mK2pL9vT4nR6sW3yH5jD0cF8gA1eU7iO2qN4";

fn config(base: String) -> OpenAIConfig {
    OpenAIConfig::new().with_api_base(base).with_api_key(KEY)
}

fn request() -> ChatRequest {
    serde_json::from_value(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .unwrap()
}

fn assert_clean(err: &ClientError) {
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(KEY), "key leaked: {text}");
        assert!(
            !text.contains(&KEY[8..30]),
            "part of the key leaked: {text}"
        );
    }
}

/// Each way a server can echo the key back: error message, error body that
/// is not OpenAI-shaped, a bad success body, a bad stream line.
fn echoing_replies() -> Vec<Reply> {
    vec![
        Reply::error(
            401,
            "invalid_api_key",
            format!("Incorrect API key provided: {KEY}."),
        ),
        Reply::raw(
            502,
            "text/html",
            format!("<html>bad gateway for Bearer {KEY}</html>"),
        ),
        Reply::raw(
            200,
            "application/json",
            format!("{{\"not\": \"a reply\", \"key\": \"{KEY}\""),
        ),
    ]
}

#[tokio::test]
async fn errors_never_show_the_key() {
    let server = LocalServer::start().await.unwrap();
    let default_client = Client::with_config(config(server.base_url()));
    let transport = Transport::builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let transport_client = transport.client(config(server.base_url()));

    let mut seen = 0;
    for reply in echoing_replies() {
        for client in [&default_client, &transport_client] {
            // As the default, so retries (async-openai's client retries 5xx)
            // meet the same reply.
            server.set_default(reply.clone());
            let err = client.create(request()).await.unwrap_err();
            assert_clean(&err);
            seen += 1;
        }
    }
    assert_eq!(seen, 6);
    server.shutdown().await;
}

#[tokio::test]
async fn stream_errors_never_show_the_key() {
    let server = LocalServer::start().await.unwrap();
    let client = Client::with_config(config(server.base_url()));
    server.push(Reply::raw(
        200,
        "text/event-stream",
        format!("data: {{\"choices\": [], \"id\": \"{KEY}\"\n\ndata: [DONE]\n\n"),
    ));
    let mut stream = client.create_stream(request()).await.unwrap();
    let mut errors = 0;
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            assert!(matches!(e, ClientError::Decode { .. }), "{e:?}");
            assert_clean(&e);
            errors += 1;
        }
    }
    assert_eq!(errors, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn transport_errors_never_show_the_key() {
    // A port nothing listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}/v1?api_key={KEY}");
    let transport = Transport::builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let err = transport
        .client(config(base))
        .create(request())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err:?}");
    assert_clean(&err);
}
