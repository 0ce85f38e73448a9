//! Bearer tokens that rotate (`TransportBuilder::bearer_tokens`): a new one
//! asked for shortly before the one in hand expires, and when the server
//! refuses it; the connection pool kept all along. The local server
//! accepts only the tokens the test says are valid.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use openai_hooks::async_openai::config::OpenAIConfig;
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks::transport::{BearerToken, RetryPolicy, Transport};
use openai_hooks::{ChatClient, ChatRequest, ClientError};
use serde_json::json;

fn request() -> ChatRequest {
    serde_json::from_value(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .unwrap()
}

/// An identity provider: each call issues `tok-<n>` for `ttl`, and the
/// server accepts only the newest token issued.
struct Issuer {
    issued: AtomicUsize,
    valid: Mutex<String>,
}

fn setup(
    server: &LocalServer,
    ttl: Duration,
    margin: Duration,
) -> (
    Arc<Issuer>,
    openai_hooks::async_openai::Client<OpenAIConfig>,
) {
    let issuer = Arc::new(Issuer {
        issued: AtomicUsize::new(0),
        valid: Mutex::new(String::new()),
    });
    let check = issuer.clone();
    server.accept_bearer(move |token| *check.valid.lock().unwrap() == token);
    let source = issuer.clone();
    let client = Transport::builder()
        .retry(RetryPolicy::none())
        .bearer_tokens(move || {
            let source = source.clone();
            async move {
                let n = source.issued.fetch_add(1, Ordering::SeqCst) + 1;
                let token = format!("tok-{n}");
                *source.valid.lock().unwrap() = token.clone();
                Ok(BearerToken::expiring_in(token, ttl))
            }
        })
        .refresh_before(margin)
        .build()
        .unwrap()
        // The config's own key is replaced by the token on every request.
        .client(
            OpenAIConfig::new()
                .with_api_base(server.base_url())
                .with_api_key("static-key"),
        );
    (issuer, client)
}

#[tokio::test]
async fn a_token_is_kept_until_shortly_before_it_expires_and_the_pool_stays() {
    let server = LocalServer::start().await.unwrap();
    // Generous times, so a loaded machine makes the three calls well
    // within the token's life.
    let (issuer, client) = setup(&server, Duration::from_secs(4), Duration::from_secs(1));
    server.set_default(Reply::text("ok"));
    for _ in 0..3 {
        client.create(request()).await.unwrap();
    }
    assert_eq!(
        issuer.issued.load(Ordering::SeqCst),
        1,
        "one token for calls close together"
    );
    // Past the refresh point: a new token, on the same connection.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    client.create(request()).await.unwrap();
    assert_eq!(issuer.issued.load(Ordering::SeqCst), 2);
    let sent: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.headers["authorization"].clone())
        .collect();
    assert_eq!(
        sent,
        [
            "Bearer tok-1",
            "Bearer tok-1",
            "Bearer tok-1",
            "Bearer tok-2"
        ]
    );
    assert_eq!(
        server.connections_accepted(),
        1,
        "the pool was kept across the rotation"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_refused_token_is_replaced_once() {
    let server = LocalServer::start().await.unwrap();
    let (issuer, client) = setup(&server, Duration::from_secs(3600), Duration::from_secs(60));
    server.set_default(Reply::text("ok"));
    client.create(request()).await.unwrap();
    // Rotated early on the provider's side: the token in hand is refused.
    *issuer.valid.lock().unwrap() = "tok-rotated".to_owned();
    let before = issuer.issued.load(Ordering::SeqCst);
    // The retry asks for a new token, which the issuer makes valid.
    client.create(request()).await.unwrap();
    assert_eq!(issuer.issued.load(Ordering::SeqCst), before + 1);

    // A server that refuses every token: one retry, then the 401.
    server.accept_bearer(|_| false);
    let err = client.create(request()).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Api(a) if a.status == Some(401)),
        "{err:?}"
    );
    assert!(
        !format!("{err} {err:?} {client:?}").contains("tok-"),
        "no token in errors or Debug"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_token_that_expires_during_a_stream_does_not_cut_it() {
    let server = LocalServer::start().await.unwrap();
    let (issuer, client) = setup(
        &server,
        Duration::from_millis(400),
        Duration::from_millis(100),
    );
    server.push(
        Reply::text("one two three four five six")
            .chunks(6)
            .chunk_delay(Duration::from_millis(150)),
    );
    let text: String = client
        .create_stream(request())
        .await
        .unwrap()
        .map(|c| c.unwrap().content().unwrap_or_default().to_owned())
        .collect()
        .await;
    assert_eq!(
        text, "one two three four five six",
        "the stream outlived its token"
    );
    // The next call carries a new token.
    server.push(Reply::text("ok"));
    client.create(request()).await.unwrap();
    assert_eq!(issuer.issued.load(Ordering::SeqCst), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn a_token_source_that_fails_is_a_typed_error_without_the_secret() {
    let server = LocalServer::start().await.unwrap();
    let client = Transport::builder()
        .bearer_tokens(|| async {
            Err::<BearerToken, _>(
                "identity provider said no to client secret sk-proj-SecretAbC0123456789xyz".into(),
            )
        })
        .build()
        .unwrap()
        .client(OpenAIConfig::new().with_api_base(server.base_url()));
    let err = client.create(request()).await.unwrap_err();
    match &err {
        ClientError::Transport { message } => {
            assert!(message.contains("no bearer token"), "{message}");
            assert!(!message.contains("SecretAbC0123456789"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        server.requests().is_empty(),
        "nothing was sent without a token"
    );
    server.shutdown().await;
}
