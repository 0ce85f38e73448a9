//! Server faults, through async-openai's client (with the retrying
//! [`Transport`] and the [`Timeout`] layer) and through a client generated
//! by `#[openai_client]` around it: each fault ends in the same typed error
//! either way, never a hang and never a silent success.
//!
//! Every stream is drained under an outer 10 s limit, so a hang fails the
//! test instead of stalling CI.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::middleware::Timeout;
use openai_hooks::server::{Fault, LocalServer, Reply};
use openai_hooks::transport::{RetryPolicy, Transport};
use openai_hooks::{
    ChatChunk, ChatClient, ChatRequest, ChunkAction, ClientError, DynChatClient, HookContext,
    HookError, OnChunk, PreRequest, openai_client,
};
use serde_json::json;

/// Counts the requests it lets through (once per call, whatever the
/// transport retries).
#[derive(Default)]
struct CountCalls(AtomicUsize);

impl PreRequest for CountCalls {
    async fn pre_request(&self, _: &mut ChatRequest, _: &mut HookContext) -> Result<(), HookError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Passes chunks on unchanged, counting them per stream.
struct PassChunks;

impl OnChunk for PassChunks {
    type State = usize;
    fn on_chunk(
        &self,
        _: &mut ChatChunk,
        seen: &mut usize,
        _: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        *seen += 1;
        Ok(ChunkAction::Pass)
    }
}

#[openai_client]
struct Hooked<C> {
    #[inner]
    client: C,
    #[pre_request]
    calls: CountCalls,
    #[on_chunk]
    chunks: PassChunks,
}

fn hooked<C: ChatClient>(client: C) -> Hooked<C> {
    Hooked {
        client,
        calls: CountCalls::default(),
        chunks: PassChunks,
    }
}

fn request() -> ChatRequest {
    serde_json::from_value(
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .unwrap()
}

fn config(server: &LocalServer) -> OpenAIConfig {
    OpenAIConfig::new()
        .with_api_base(server.base_url())
        .with_api_key("test-key")
}

/// async-openai's client on a transport with `policy`.
fn plain(server: &LocalServer, policy: RetryPolicy) -> Client<OpenAIConfig> {
    Transport::builder()
        .retry(policy)
        .build()
        .unwrap()
        .client(config(server))
}

/// The plain client and the same client behind generated hooks.
fn both(server: &LocalServer, policy: RetryPolicy) -> [Box<dyn DynChatClient>; 2] {
    [
        Box::new(plain(server, policy.clone())),
        Box::new(hooked(plain(server, policy))),
    ]
}

/// Chunks, then the error that ended the stream (or the error that kept it
/// from opening, with no chunks).
async fn drain(client: &dyn DynChatClient) -> (Vec<ChatChunk>, Option<ClientError>) {
    let run = async {
        let mut stream = match client.create_stream(request()).await {
            Ok(s) => s,
            Err(e) => return (Vec::new(), Some(e)),
        };
        let mut chunks = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(c) => chunks.push(c),
                Err(e) => {
                    assert!(stream.next().await.is_none(), "an item followed an error");
                    return (chunks, Some(e));
                }
            }
        }
        (chunks, None)
    };
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the stream ended by itself (no hang)")
}

fn no_retry() -> RetryPolicy {
    RetryPolicy::none()
}

fn fast_retry(n: u32) -> RetryPolicy {
    RetryPolicy::default()
        .max_retries(n)
        .initial_backoff(Duration::from_millis(1))
}

#[test]
fn retry_defaults_are_the_documented_ones() {
    // `RetryPolicy`'s docs: 2 retries, backoff 500 ms doubling up to 8 s,
    // `Retry-After` honoured up to 60 s.
    assert_eq!(
        RetryPolicy::default(),
        RetryPolicy::none()
            .max_retries(2)
            .initial_backoff(Duration::from_millis(500))
            .max_backoff(Duration::from_secs(8))
            .max_retry_after(Duration::from_secs(60))
    );
}

#[tokio::test]
async fn throttling_and_5xx_are_retried_then_surface_typed() {
    let server = LocalServer::start().await.unwrap();
    for (i, client) in both(&server, fast_retry(2)).iter().enumerate() {
        let before = server.requests().len();
        // Three 503s with a policy of two retries: three attempts, then the
        // last error with its status and code.
        for _ in 0..3 {
            server.push(Reply::error(503, "overloaded", "busy, try later"));
        }
        let err = client.create(request()).await.unwrap_err();
        let api = err.api().unwrap_or_else(|| panic!("client {i}: {err:?}"));
        assert_eq!(api.status, Some(503));
        assert_eq!(api.code.as_deref(), Some("overloaded"));
        assert_eq!(server.requests().len() - before, 3, "client {i}");

        // A 500 then a reply: the retry hides the fault.
        server.push(Reply::error(500, "server_error", "oops"));
        server.push(Reply::text("recovered").chunks(2));
        let (chunks, err) = drain(client.as_ref()).await;
        assert!(err.is_none(), "client {i}: {err:?}");
        let text: String = chunks.iter().filter_map(|c| c.content()).collect();
        assert_eq!(text, "recovered");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn retry_after_is_waited_for_and_kept_in_the_error() {
    let server = LocalServer::start().await.unwrap();
    let client = hooked(plain(&server, fast_retry(1)));
    server.push(Reply::error(429, "rate_limit_exceeded", "Slow down").retry_after(1));
    server.push(Reply::error(429, "rate_limit_exceeded", "Slow down").retry_after(1));
    let err = client.create(request()).await.unwrap_err();
    let api = err.api().expect("an API error");
    assert_eq!(api.status, Some(429));
    assert_eq!(api.code.as_deref(), Some("rate_limit_exceeded"));
    assert_eq!(api.retry_after, Some(Duration::from_secs(1)));
    assert!(api.is_throttling());
    let sent = server.requests();
    assert_eq!(sent.len(), 2, "one retry");
    assert!(
        sent[1].received_at - sent[0].received_at >= Duration::from_secs(1),
        "the retry waited for Retry-After, not the 1 ms backoff"
    );
    assert_eq!(
        client.calls.0.load(Ordering::SeqCst),
        1,
        "hooks run once per call, not per attempt"
    );

    // A wait longer than the policy accepts ends the retries at once, so the
    // caller decides.
    server.push(Reply::error(429, "rate_limit_exceeded", "Come back later").retry_after(600));
    let err = client.create(request()).await.unwrap_err();
    assert_eq!(
        err.api().unwrap().retry_after,
        Some(Duration::from_secs(600))
    );
    assert_eq!(server.requests().len(), 3, "not retried");
    server.shutdown().await;
}

#[tokio::test]
async fn connection_refused_is_a_transport_error() {
    // A port nothing listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = OpenAIConfig::new().with_api_base(format!("http://127.0.0.1:{port}/v1"));
    let transport = Transport::builder().retry(fast_retry(2)).build().unwrap();
    let clients: [Box<dyn DynChatClient>; 2] = [
        Box::new(transport.client(cfg.clone())),
        Box::new(hooked(transport.client(cfg))),
    ];
    for client in &clients {
        let err = client.create(request()).await.unwrap_err();
        let ClientError::Transport { message } = &err else {
            panic!("{err:?}")
        };
        assert!(message.to_lowercase().contains("refused"), "{message}");
        let (chunks, err) = drain(client.as_ref()).await;
        assert!(chunks.is_empty());
        assert!(
            matches!(err, Some(ClientError::Transport { .. })),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn reset_before_the_response() {
    let server = LocalServer::start().await.unwrap();
    for client in both(&server, no_retry()) {
        server.push(Reply::text("x").fault(Fault::ResetBeforeResponse));
        let err = client.create(request()).await.unwrap_err();
        assert!(matches!(err, ClientError::Transport { .. }), "{err:?}");
        server.push(Reply::text("x").fault(Fault::ResetBeforeResponse));
        let (chunks, err) = drain(client.as_ref()).await;
        assert!(chunks.is_empty());
        assert!(
            matches!(err, Some(ClientError::Transport { .. })),
            "{err:?}"
        );
    }
    // A connection failure before any response is retried.
    for client in both(&server, fast_retry(1)) {
        server.push(Reply::text("x").fault(Fault::ResetBeforeResponse));
        server.push(Reply::text("second try"));
        let reply = client.create(request()).await.unwrap();
        assert_eq!(reply.content(), Some("second try"));
    }
    // ...unless told not to send again what may have reached the server:
    // one request, no second.
    for client in both(&server, fast_retry(1).resend_unanswered(false)) {
        let before = server.requests().len();
        server.push(Reply::text("x").fault(Fault::ResetBeforeResponse));
        server.push(Reply::text("not asked for"));
        let err = client.create(request()).await.unwrap_err();
        assert!(matches!(err, ClientError::Transport { .. }), "{err:?}");
        assert_eq!(server.requests().len(), before + 1, "sent once");
        // The unused reply goes to the next request.
        let _ = client.create(request()).await.unwrap();
    }
    server.shutdown().await;
}

#[tokio::test]
async fn reset_mid_stream_delivers_what_came_then_fails() {
    let server = LocalServer::start().await.unwrap();
    for client in both(&server, fast_retry(2)) {
        server.push(
            Reply::text("a b c d e f")
                .chunks(6)
                .fault(Fault::ResetAfter { after: 3 }),
        );
        let (chunks, err) = drain(client.as_ref()).await;
        // The role chunk and two content chunks, in order, then the error.
        assert_eq!(chunks.len(), 3);
        let text: String = chunks.iter().filter_map(|c| c.content()).collect();
        assert_eq!(text, "a b ");
        let Some(ClientError::Transport { message }) = &err else {
            panic!("{err:?}")
        };
        assert!(!message.is_empty());
    }
    // A stream that failed part-way is never retried: its chunks are out.
    assert_eq!(server.requests().len(), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_line_is_a_decode_error_naming_it() {
    let server = LocalServer::start().await.unwrap();
    for client in both(&server, no_retry()) {
        server.push(
            Reply::text("a b c d")
                .chunks(4)
                .fault(Fault::MalformedLine { after: 2 }),
        );
        let (chunks, err) = drain(client.as_ref()).await;
        assert_eq!(chunks.len(), 2);
        let Some(ClientError::Decode { what, snippet, .. }) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*what, "stream chunk");
        assert_eq!(snippet, "{\"id\": \"broken\", not json");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn cut_streams_are_truncated_never_a_success() {
    let server = LocalServer::start().await.unwrap();
    let no_finish = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"content": "half"}, "finish_reason": null}]});
    for client in both(&server, no_retry()) {
        // Body ends cleanly before `[DONE]` and before the finish reason.
        server.push(
            Reply::text("a b c d")
                .chunks(4)
                .fault(Fault::CutBeforeDone { after: 3 }),
        );
        let (chunks, err) = drain(client.as_ref()).await;
        assert_eq!(chunks.len(), 3);
        assert!(
            matches!(err, Some(ClientError::Truncated { chunks: 3 })),
            "{err:?}"
        );

        // `[DONE]` arrives, but no choice ever finished.
        server.push(Reply::raw(
            200,
            "text/event-stream",
            format!("data: {no_finish}\n\ndata: [DONE]\n\n"),
        ));
        let (chunks, err) = drain(client.as_ref()).await;
        assert_eq!(chunks.len(), 1);
        assert!(
            matches!(err, Some(ClientError::Truncated { chunks: 1 })),
            "{err:?}"
        );

        // Nothing at all.
        server.push(Reply::raw(200, "text/event-stream", "data: [DONE]\n\n"));
        let (_, err) = drain(client.as_ref()).await;
        assert!(matches!(err, Some(ClientError::EmptyStream)), "{err:?}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn slow_first_byte_times_out() {
    let server = LocalServer::start().await.unwrap();
    let limited = || {
        Transport::builder()
            .retry(no_retry())
            .first_byte_timeout(Duration::from_millis(100))
            .build()
            .unwrap()
            .client(config(&server))
    };
    let clients: [Box<dyn DynChatClient>; 3] = [
        Box::new(limited()),
        Box::new(hooked(limited())),
        // The same limit one level up, on a transport without one.
        Box::new(hooked(
            Timeout::new(plain(&server, no_retry())).response(Duration::from_millis(100)),
        )),
    ];
    for client in &clients {
        for stream in [false, true] {
            server.push(Reply::text("late").first_byte_delay(Duration::from_secs(3)));
            let err = if stream {
                drain(client.as_ref()).await.1.expect("an error")
            } else {
                client.create(request()).await.unwrap_err()
            };
            assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn idle_gap_between_chunks_times_out() {
    let server = LocalServer::start().await.unwrap();
    let idle = |server: &LocalServer| {
        Timeout::new(plain(server, no_retry())).idle(Duration::from_millis(200))
    };
    let clients: [Box<dyn DynChatClient>; 2] =
        [Box::new(idle(&server)), Box::new(hooked(idle(&server)))];
    for client in &clients {
        server.push(
            Reply::text("a b c d")
                .chunks(4)
                .fault(Fault::StallAfter { after: 2 }),
        );
        let (chunks, err) = drain(client.as_ref()).await;
        assert_eq!(chunks.len(), 2, "the chunks before the gap arrive");
        assert!(
            matches!(
                err,
                Some(ClientError::Timeout {
                    what: "next chunk",
                    after: Some(_)
                })
            ),
            "{err:?}"
        );
        assert!(
            server
                .wait_for_connections_open(0, Duration::from_secs(5))
                .await,
            "the silent connection is closed"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn html_or_non_json_success_is_a_decode_error_with_a_snippet() {
    let server = LocalServer::start().await.unwrap();
    let page = "<html><body>Please sign in to the corporate proxy</body></html>";
    for client in both(&server, no_retry()) {
        server.push(Reply::raw(200, "text/html; charset=utf-8", page));
        let err = client.create(request()).await.unwrap_err();
        let ClientError::Decode { snippet, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(snippet.contains("corporate proxy"), "{snippet}");

        server.push(Reply::raw(200, "text/html", page));
        let (chunks, err) = drain(client.as_ref()).await;
        assert!(chunks.is_empty());
        let Some(ClientError::Decode { snippet, .. }) = &err else {
            panic!("{err:?}")
        };
        assert!(snippet.contains("corporate proxy"), "{snippet}");

        server.push(Reply::raw(200, "application/json", "not json at all"));
        let err = client.create(request()).await.unwrap_err();
        let ClientError::Decode { snippet, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(snippet, "not json at all");
    }
    server.shutdown().await;
}

/// The retry table in `RetryPolicy`'s docs: with `resend_unanswered(false)`,
/// what may have reached the server (or a gateway's upstream) is sent once;
/// what the server turned away is still resent.
#[tokio::test]
async fn careful_retries_resend_only_what_was_turned_away() {
    let server = LocalServer::start().await.unwrap();
    for client in both(&server, fast_retry(1).resend_unanswered(false)) {
        for status in [500, 502, 504] {
            let before = server.requests().len();
            server.push(Reply::error(status, "upstream", "the upstream failed"));
            server.push(Reply::text("not asked for"));
            let err = client.create(request()).await.unwrap_err();
            assert_eq!(err.status(), Some(status), "{err:?}");
            assert_eq!(server.requests().len(), before + 1, "{status} sent once");
            let _ = client.create(request()).await.unwrap();
        }
        for status in [429, 503] {
            server.push(Reply::error(
                status,
                "busy",
                "Rate limit exceeded, please retry later.",
            ));
            server.push(Reply::text("second try"));
            let reply = client.create(request()).await.unwrap();
            assert_eq!(reply.content(), Some("second try"), "{status} resent");
        }
    }
    server.shutdown().await;
}

/// With an idempotency key, every attempt of a call carries the same key,
/// and another call carries another.
#[tokio::test]
async fn an_idempotency_key_is_the_same_on_every_attempt_of_a_call() {
    let server = LocalServer::start().await.unwrap();
    let client = Transport::builder()
        .retry(fast_retry(2))
        .idempotency_key("idempotency-key".parse().unwrap())
        .build()
        .unwrap()
        .client(config(&server));
    server.push(Reply::error(503, "busy", "try again"));
    server.push(Reply::error(502, "upstream", "bad gateway"));
    server.push(Reply::text("third"));
    let reply = client.create(request()).await.unwrap();
    assert_eq!(reply.content(), Some("third"));
    server.push(Reply::text("another call"));
    let _ = client.create(request()).await.unwrap();
    let keys: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.headers.get("idempotency-key").cloned().expect("a key"))
        .collect();
    assert_eq!(keys.len(), 4);
    assert!(keys[0].len() >= 32, "{keys:?}");
    assert_eq!(keys[0], keys[1]);
    assert_eq!(keys[1], keys[2]);
    assert_ne!(keys[2], keys[3]);
    server.shutdown().await;
}

/// The transport's body limits end a call with `LimitExceeded`, never with
/// more memory: a whole reply over `max_body_bytes`, and a stream event
/// over `max_event_bytes` (after the events before it).
#[tokio::test]
async fn replies_over_the_transports_limits_end_typed() {
    let server = LocalServer::start().await.unwrap();
    let limited = |body: usize, event: usize| -> Box<dyn DynChatClient> {
        Box::new(hooked(
            Transport::builder()
                .retry(no_retry())
                .max_body_bytes(body)
                .max_event_bytes(event)
                .build()
                .unwrap()
                .client(config(&server)),
        ))
    };
    let client = limited(2_000, 1 << 20);
    server.push(Reply::text("long ".repeat(1_000)));
    let err = client.create(request()).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::LimitExceeded {
                what: "reply body bytes",
                limit: 2_000
            }
        ),
        "{err:?}"
    );
    // Within the limit, the same reply passes.
    let client = limited(1 << 20, 1 << 20);
    server.push(Reply::text("long ".repeat(1_000)));
    assert!(client.create(request()).await.is_ok());

    let event = |text: &str| {
        format!(
            "data: {}\n\n",
            json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                   "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
        )
    };
    let body = format!(
        "{}{}data: [DONE]\n\n",
        event("short"),
        event(&"x".repeat(5_000))
    );
    let client = limited(1 << 20, 1_000);
    server.push(Reply::raw(200, "text/event-stream", body.clone()));
    let (chunks, err) = drain(client.as_ref()).await;
    assert_eq!(chunks.len(), 1, "the event before the long one");
    assert_eq!(chunks[0].content(), Some("short"));
    assert!(
        matches!(
            err,
            Some(ClientError::LimitExceeded {
                what: "bytes per event",
                limit: 1_000
            })
        ),
        "{err:?}"
    );
    // A stream over the body limit ends at an event boundary.
    let client = limited(body.len() / 2, 1 << 20);
    server.push(Reply::raw(200, "text/event-stream", body));
    let (_, err) = drain(client.as_ref()).await;
    assert!(
        matches!(
            err,
            Some(ClientError::LimitExceeded {
                what: "reply body bytes",
                ..
            })
        ),
        "{err:?}"
    );
    server.shutdown().await;
}
