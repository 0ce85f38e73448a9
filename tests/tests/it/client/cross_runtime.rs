//! Cross-runtime use of one plain `async_openai::Client`: runtime A makes a
//! call, which leaves a keep-alive connection in the client's pool, driven
//! by a task that lives on A. Runtime B then streams through the same
//! client, gets that pooled connection, and A shuts down mid-stream. The
//! connection's task dies with A, and B's stream is cut part-way.
//!
//! B's stream must run on A's connection, every round, whatever the
//! scheduling: A's connection goes back to the pool from a task on A, a
//! moment after A's call returns, and a request that finds the pool empty
//! opens a connection of its own. So the client is built with a connector
//! that opens one connection and holds every later attempt pending: B's
//! request then waits for A's connection to be checked in and takes it,
//! which the server's connection count confirms (one connection, every
//! round). Nothing else about the client differs from a plain one.
//!
//! The test repeats the scenario (20 times by default,
//! `CROSS_RUNTIME_ITERATIONS=100` for more), prints what B saw each time,
//! and asserts on it: B's stream never completes once A is gone, it fails
//! with a typed transport error after the chunks that had already arrived
//! (never a silent, shortened success), and it never hangs past a bounded
//! wait. Run with `--nocapture` to see the tally.
//!
//! The second test is the scenario without overlap: A makes its call and is
//! dropped, and only then does B make its next request through the same
//! client. That one never fails: A's connection closed when A was dropped,
//! and the pool discards it and opens a new one for B.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks::{ChatClient, ChatRequest, ClientError};
use serde_json::json;

/// Chunks in each streamed reply: the role chunk, `PIECES` content chunks,
/// the finish chunk.
const PIECES: usize = 20;

fn request() -> ChatRequest {
    serde_json::from_value(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .unwrap()
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// A connector layer that lets the first connection through and holds every
/// later attempt pending for good: a request that finds no idle connection
/// in the pool waits for one to be checked in instead of opening its own.
#[derive(Clone, Default)]
struct OneConnection {
    opened: Arc<AtomicBool>,
}

impl<S> tower::Layer<S> for OneConnection {
    type Service = OneConnectionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OneConnectionService {
            inner,
            opened: Arc::clone(&self.opened),
        }
    }
}

#[derive(Clone)]
struct OneConnectionService<S> {
    inner: S,
    opened: Arc<AtomicBool>,
}

impl<S, R> tower::Service<R> for OneConnectionService<S>
where
    S: tower::Service<R>,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        if self.opened.swap(true, Ordering::SeqCst) {
            return Box::pin(futures::future::pending());
        }
        Box::pin(self.inner.call(req))
    }
}

/// A client for `server` that opens at most one connection (see
/// [`OneConnection`]); otherwise async-openai's default.
fn one_connection_client(server: &LocalServer) -> Client<OpenAIConfig> {
    let http = reqwest::Client::builder()
        .connector_layer(OneConnection::default())
        .build()
        .unwrap();
    Client::with_config(OpenAIConfig::new().with_api_base(server.base_url())).with_http_client(http)
}

/// What runtime B saw of its stream.
#[derive(Debug)]
enum Seen {
    /// Every chunk, then a clean end.
    Complete,
    /// An error after `chunks` chunks.
    Failed { chunks: usize, error: ClientError },
    /// Nothing more within the bounded wait after `chunks` chunks.
    Hung { chunks: usize },
    /// The stream ended without error but short.
    ShortSuccess { chunks: usize },
}

/// One round: returns what B saw and how many connections the server had
/// accepted when B's stream opened.
fn round(server: &LocalServer) -> (Seen, u64) {
    let before = server.connections_accepted();
    let client = one_connection_client(server);

    // Runtime A opens the pooled connection.
    let a = multi_thread();
    let reply = a.block_on(client.create(request())).unwrap();
    assert_eq!(reply.content(), Some("hi"));

    // Runtime B streams on another thread and waits for A to go away after
    // its third chunk.
    server.push(
        Reply::text("x".repeat(PIECES))
            .chunks(PIECES)
            .chunk_delay(Duration::from_millis(10)),
    );
    let (three_in, three_in_rx) = mpsc::channel::<u64>();
    let (a_gone, a_gone_rx) = tokio::sync::oneshot::channel::<()>();
    let client = &client;
    let seen = std::thread::scope(|s| {
        let b = s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                // B's request waits for A's connection to be checked in
                // (bounded: were it never, the round fails here, not hangs).
                let mut stream =
                    tokio::time::timeout(Duration::from_secs(30), client.create_stream(request()))
                        .await
                        .expect("A's connection never went back to the pool")
                        .unwrap();
                let mut chunks = 0;
                while chunks < 3 {
                    stream.next().await.unwrap().unwrap();
                    chunks += 1;
                }
                three_in.send(server.connections_accepted()).unwrap();
                a_gone_rx.await.unwrap();
                loop {
                    match tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
                        Err(_) => return Seen::Hung { chunks },
                        Ok(Some(Ok(_))) => chunks += 1,
                        Ok(Some(Err(error))) => return Seen::Failed { chunks, error },
                        Ok(None) if chunks == PIECES + 2 => return Seen::Complete,
                        Ok(None) => return Seen::ShortSuccess { chunks },
                    }
                }
            })
        });
        let accepted = three_in_rx.recv().unwrap();
        // Shutting A down drops every task on it, the pooled connection's
        // included.
        drop(a);
        a_gone.send(()).unwrap();
        (b.join().unwrap(), accepted)
    });
    (seen.0, seen.1 - before)
}

#[test]
fn a_stream_on_runtime_b_fails_when_runtime_a_shuts_down() {
    let iterations: usize = std::env::var("CROSS_RUNTIME_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let server_rt = multi_thread();
    let server = server_rt.block_on(LocalServer::start()).unwrap();

    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..iterations {
        let (seen, connections) = round(&server);
        assert_eq!(
            connections, 1,
            "round {i}: B's stream reused the connection A opened"
        );
        let kind = match &seen {
            Seen::Complete => "complete".to_owned(),
            Seen::Failed {
                chunks,
                error: ClientError::Transport { message },
            } => {
                assert!(*chunks >= 3 && *chunks < PIECES + 2, "round {i}: {seen:?}");
                format!("failed part-way: {message}")
            }
            Seen::Failed { error, .. } => format!("failed, other error: {error:?}"),
            Seen::Hung { chunks } => format!("hung after {chunks} chunks (cut by the 5 s wait)"),
            Seen::ShortSuccess { chunks } => format!("short success: {chunks} chunks"),
        };
        *tally.entry(kind).or_default() += 1;
    }
    println!("cross-runtime: {iterations} rounds");
    for (kind, n) in &tally {
        println!("  {n:>4} × {kind}");
    }
    // What this scenario does, every time: B's stream is cut part-way with a
    // transport error ("error decoding response body"), after the chunks
    // that had arrived; never complete, never a silent short success.
    let failed: usize = tally
        .iter()
        .filter(|(k, _)| k.starts_with("failed part-way"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(failed, iterations, "{tally:#?}");
    assert!(
        tally.keys().all(
            |k| !k.starts_with("failed part-way") || k.contains("error decoding response body")
        ),
        "{tally:#?}"
    );
    drop(server);
    server_rt.shutdown_background();
}

/// How B's request after A's drop went.
fn next_request_after_drop(
    server: &LocalServer,
    a: tokio::runtime::Runtime,
    streaming: bool,
) -> Result<String, String> {
    let client = Client::with_config(OpenAIConfig::new().with_api_base(server.base_url()));
    let reply = a.block_on(client.create(request())).unwrap();
    assert_eq!(reply.content(), Some("hi"));
    drop(a);
    let b = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    b.block_on(async {
        let next = async {
            if !streaming {
                let reply = client
                    .create(request())
                    .await
                    .map_err(|e| format!("{e:?}"))?;
                return Ok(reply.content().unwrap_or_default().to_owned());
            }
            let mut stream = client
                .create_stream(request())
                .await
                .map_err(|e| format!("opening: {e:?}"))?;
            let mut text = String::new();
            let mut chunks = 0;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| format!("after {chunks} chunks: {e:?}"))?;
                text.push_str(chunk.content().unwrap_or_default());
                chunks += 1;
            }
            Ok(text)
        };
        tokio::time::timeout(Duration::from_secs(10), next)
            .await
            .unwrap_or_else(|_| Err("hung".into()))
    })
}

#[test]
fn after_runtime_a_is_dropped_runtime_b_next_request_opens_a_new_connection() {
    let server_rt = multi_thread();
    let server = server_rt.block_on(LocalServer::start()).unwrap();
    let current_thread = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let flavors: [(&str, &dyn Fn() -> tokio::runtime::Runtime); 2] = [
        ("multi_thread", &multi_thread),
        ("current_thread", &current_thread),
    ];
    for (flavor, runtime_a) in flavors {
        for streaming in [false, true] {
            for round in 0..10 {
                let at = format!("A {flavor}, streaming {streaming}, round {round}");
                let before = server.connections_accepted();
                let outcome = next_request_after_drop(&server, runtime_a(), streaming);
                // B's request succeeds in full, every time, on a connection
                // of its own: A's, found closed, was not reused.
                assert_eq!(outcome.as_deref(), Ok("hi"), "{at}");
                assert_eq!(server.connections_accepted() - before, 2, "{at}");
                // B is dropped too: no connection stays open.
                assert!(
                    server_rt
                        .block_on(server.wait_for_connections_open(0, Duration::from_secs(10))),
                    "{at}"
                );
            }
        }
    }
    drop(server);
    server_rt.shutdown_background();
}
