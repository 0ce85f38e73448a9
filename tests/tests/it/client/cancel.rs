//! Cancellation: dropping a stream, or a call still waiting for its reply,
//! releases everything at once: the hooks' per-stream state and context
//! (checked with drop counters), the HTTP connection (the local server sees
//! it close), and every task the call spawned (tokio's `num_alive_tasks`
//! returns to where it was before the call).
//!
//! The server runs on a runtime of its own, so the test's runtime counts
//! only the client's tasks.

use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks::transport::{RetryPolicy, Transport};
use openai_hooks::{
    ChatChunk, ChatClient, ChatRequest, ChunkAction, DynChatClient, HookContext, HookError,
    OnChunk, PreRequest, openai_client,
};
use serde_json::json;

/// Live per-stream states, one counter per test (tests run in parallel).
static LIVE: [AtomicIsize; 3] = [
    AtomicIsize::new(0),
    AtomicIsize::new(0),
    AtomicIsize::new(0),
];

/// A chunk hook's per-stream state that counts itself alive.
struct Counted<const ID: usize>;

impl<const ID: usize> Default for Counted<ID> {
    fn default() -> Self {
        LIVE[ID].fetch_add(1, Ordering::SeqCst);
        Self
    }
}

impl<const ID: usize> Drop for Counted<ID> {
    fn drop(&mut self) {
        LIVE[ID].fetch_sub(1, Ordering::SeqCst);
    }
}

struct Chunks<const ID: usize>;

impl<const ID: usize> OnChunk for Chunks<ID> {
    type State = Counted<ID>;
    fn on_chunk(
        &self,
        _: &mut ChatChunk,
        _: &mut Counted<ID>,
        _: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        Ok(ChunkAction::Pass)
    }
}

/// Something a hook leaves in the call's context for later hooks (held,
/// never read: its strong count is what the tests watch).
#[derive(Clone)]
struct Token {
    _held: Arc<()>,
}

/// Puts a clone of `token` in every call's context.
struct Stamp {
    token: Arc<()>,
}

impl PreRequest for Stamp {
    async fn pre_request(
        &self,
        _: &mut ChatRequest,
        cx: &mut HookContext,
    ) -> Result<(), HookError> {
        cx.extensions_mut().insert(Token {
            _held: self.token.clone(),
        });
        Ok(())
    }
}

#[openai_client]
struct Hooked<C, const ID: usize> {
    #[inner]
    client: C,
    #[pre_request]
    stamp: Stamp,
    #[on_chunk]
    chunks: Chunks<ID>,
}

fn hooked<C: ChatClient, const ID: usize>(client: C) -> Hooked<C, ID> {
    Hooked {
        client,
        stamp: Stamp {
            token: Arc::new(()),
        },
        chunks: Chunks,
    }
}

fn request() -> ChatRequest {
    serde_json::from_value(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .unwrap()
}

/// The local server on a runtime (and thread) of its own.
struct Remote {
    server: LocalServer,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Remote {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = std::thread::scope(|s| {
            s.spawn(|| runtime.block_on(LocalServer::start()).unwrap())
                .join()
                .unwrap()
        });
        Self {
            server,
            runtime: Some(runtime),
        }
    }
}

impl std::ops::Deref for Remote {
    type Target = LocalServer;
    fn deref(&self) -> &LocalServer {
        &self.server
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn config(server: &LocalServer) -> OpenAIConfig {
    OpenAIConfig::new().with_api_base(server.base_url())
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Waits (at most 5 s) until no more than `n` tasks are alive.
async fn tasks_settle_to(n: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = alive_tasks();
        if now <= n || Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A long, slow reply: still streaming when the caller walks away.
fn slow_reply() -> Reply {
    Reply::text("word ".repeat(200))
        .chunks(200)
        .chunk_delay(Duration::from_millis(10))
}

#[tokio::test]
async fn dropping_a_stream_mid_way_releases_everything() {
    let server = Remote::start();
    let baseline = alive_tasks();
    let clients: [Box<dyn DynChatClient>; 2] = [
        Box::new(hooked::<_, 0>(Client::with_config(config(&server)))),
        Box::new(hooked::<_, 0>(
            Transport::builder()
                .retry(RetryPolicy::none())
                .build()
                .unwrap()
                .client(config(&server)),
        )),
    ];
    for (i, client) in clients.into_iter().enumerate() {
        // Several calls: what a call leaves behind would add up.
        for call in 0..3 {
            server.push(slow_reply());
            let mut stream = client.create_stream(request()).await.unwrap();
            for _ in 0..5 {
                stream.next().await.unwrap().unwrap();
            }
            assert_eq!(server.connections_open(), 1);
            assert_eq!(LIVE[0].load(Ordering::SeqCst), 1, "one stream, one state");
            assert!(alive_tasks() > baseline, "the call runs tasks");

            drop(stream);
            assert_eq!(
                LIVE[0].load(Ordering::SeqCst),
                0,
                "the hook state is dropped with the stream, at once"
            );
            assert!(
                server
                    .wait_for_connections_open(0, Duration::from_secs(5))
                    .await,
                "client {i} call {call}: the server sees the connection close"
            );
            // A connection dropped mid-body never goes back to the pool,
            // so not even the pool's idle reaper starts.
            let left = tasks_settle_to(baseline).await;
            assert_eq!(
                left, baseline,
                "client {i} call {call}: no task is left behind by the call"
            );
        }
    }
}

#[tokio::test]
async fn dropping_a_stream_releases_the_hook_context() {
    let server = Remote::start();
    let client = hooked::<_, 1>(Client::with_config(config(&server)));
    server.push(slow_reply());
    let mut stream = client.create_stream(request()).await.unwrap();
    stream.next().await.unwrap().unwrap();
    assert_eq!(
        Arc::strong_count(&client.stamp.token),
        2,
        "the stream's context holds the token"
    );
    drop(stream);
    assert_eq!(Arc::strong_count(&client.stamp.token), 1);
    assert_eq!(LIVE[1].load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn dropping_a_call_in_flight_releases_everything() {
    let server = Remote::start();
    let baseline = alive_tasks();
    let client = hooked::<_, 2>(Client::with_config(config(&server)));
    // A complete reply and a stream, each still waiting for the server.
    let cases = [
        (
            Reply::text("late").first_byte_delay(Duration::from_secs(20)),
            false,
        ),
        (
            Reply::text("late").first_byte_delay(Duration::from_secs(20)),
            true,
        ),
    ];
    for (i, (reply, stream)) in cases.into_iter().enumerate() {
        server.push(reply);
        let call = async {
            if stream {
                client.create_stream(request()).await.map(drop)
            } else {
                client.create(request()).await.map(drop)
            }
        };
        // Give up on the call once the server has it; the future is dropped.
        let gave_up = tokio::time::timeout(Duration::from_millis(300), call).await;
        assert!(gave_up.is_err(), "case {i}: the call was still waiting");
        assert_eq!(server.requests().len(), i + 1, "case {i}: the request left");
        assert_eq!(
            Arc::strong_count(&client.stamp.token),
            1,
            "case {i}: the context went with the future"
        );
        assert!(
            server
                .wait_for_connections_open(0, Duration::from_secs(5))
                .await,
            "case {i}: the server sees the connection close"
        );
        assert_eq!(tasks_settle_to(baseline).await, baseline, "case {i}");
    }
    assert_eq!(LIVE[2].load(Ordering::SeqCst), 0);
}
