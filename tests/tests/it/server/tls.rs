//! The local server over HTTPS: a certificate made at start, trusted
//! explicitly by the client, connections reused as over plain HTTP.

use std::time::Duration;

use futures::StreamExt;
use openai_hooks::async_openai::config::OpenAIConfig;
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks::transport::{RetryPolicy, Transport};
use openai_hooks::{ChatClient, ChatRequest, ClientError};
use serde_json::json;

fn request() -> ChatRequest {
    serde_json::from_value(
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "over tls"}]}),
    )
    .unwrap()
}

fn config(server: &LocalServer) -> OpenAIConfig {
    OpenAIConfig::new()
        .with_api_base(server.base_url())
        .with_api_key("k")
}

#[tokio::test]
async fn https_serves_json_and_streams_over_one_connection() {
    let server = LocalServer::start_tls().await.unwrap();
    assert!(server.base_url().starts_with("https://127.0.0.1:"));
    let pem = server.certificate_pem().unwrap().to_owned();
    let client = Transport::builder()
        .retry(RetryPolicy::none())
        .add_root_certificate_pem(pem)
        .build()
        .unwrap()
        .client(config(&server));

    server.push(Reply::text("secure hello"));
    let reply = client.create(request()).await.unwrap();
    assert_eq!(reply.content(), Some("secure hello"));

    server.push(Reply::text("one two three").chunks(3));
    let mut stream = client.create_stream(request()).await.unwrap();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        text.push_str(chunk.unwrap().content().unwrap_or_default());
    }
    assert_eq!(text, "one two three");
    drop(stream);

    assert_eq!(server.requests().len(), 2);
    assert_eq!(
        server.requests()[1].body["messages"][0]["content"],
        "over tls"
    );
    assert_eq!(
        server.connections_accepted(),
        1,
        "the TLS session is kept alive and reused"
    );
    drop(client);
    assert!(
        server
            .wait_for_connections_open(0, Duration::from_secs(5))
            .await
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_certificate_is_refused() {
    let server = LocalServer::start_tls().await.unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([])
        .build()
        .unwrap();
    let client = Transport::builder()
        .retry(RetryPolicy::none())
        .http_client(http)
        .build()
        .unwrap()
        .client(config(&server));
    let err = client.create(request()).await.unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err:?}");
    assert!(server.requests().is_empty(), "nothing reached the handler");
    server.shutdown().await;
}

#[tokio::test]
async fn each_server_makes_its_own_certificate() {
    let a = LocalServer::start_tls().await.unwrap();
    let b = LocalServer::start_tls().await.unwrap();
    assert_ne!(a.certificate_pem(), b.certificate_pem());
    // A client trusting only `a`'s certificate cannot reach `b`.
    let client = Transport::builder()
        .retry(RetryPolicy::none())
        .add_root_certificate_pem(a.certificate_pem().unwrap().to_owned())
        .build()
        .unwrap()
        .client(config(&b));
    assert!(client.create(request()).await.is_err());
    a.shutdown().await;
    b.shutdown().await;
}
