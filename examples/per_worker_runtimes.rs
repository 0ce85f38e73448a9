//! One tokio runtime per worker thread (actix-web style, or a pool of
//! `current_thread` runtimes): the per-runtime client source, and what goes
//! wrong without it.
//!
//! ```sh
//! cargo run --example per_worker_runtimes
//! ```
//!
//! A connection pool's connections are driven by the runtime that opened
//! them. Part 1 shares one plain client between two runtimes and shuts the
//! first down while the second is streaming over a connection the first
//! opened: the second's stream fails part way. Part 2 gives the model a
//! per-runtime source: each worker's runtime gets its own client, reused by
//! every task on it, and dropped when that runtime shuts down.
//!
//! Part 2 talks to the local OpenAI-compatible server when `OPENAI_API_KEY`
//! is not set, and to OpenAI (or `OPENAI_BASE_URL`, with `OPENAI_MODEL`,
//! default `gpt-4o-mini`) when it is. Part 1 always runs against the local
//! server, even with a key: the failure it shows needs a reply streamed
//! slowly enough to shut runtime A down in the middle of it, which only a
//! scripted server can promise.

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use openai_hooks::OpenAIModel;
use openai_hooks::async_openai::Client;
use openai_hooks::async_openai::config::OpenAIConfig;
use openai_hooks::model::{BlockDelta, Message, ModelError, StreamEvent};
use openai_hooks::server::Backend;
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks::{ChatClient, ChatRequest};
use openai_hooks_examples::backend;

const WORKERS: usize = 4;
const CALLS_PER_WORKER: usize = 5;

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

fn main() -> Result<(), Box<dyn Error>> {
    // This example is about runtimes, so whatever it starts (the local
    // server) runs on a runtime of its own, apart from the workers'.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let backend = server_rt.block_on(backend(Reply::text("pong").chunks(2)))?;
    // Part 1 needs a server it can script: the backend's when it is the
    // local server, otherwise a local server of its own.
    let own_server = match backend.server {
        Some(_) => None,
        None => Some(server_rt.block_on(LocalServer::start())?),
    };
    let scripted = backend
        .server
        .as_ref()
        .or(own_server.as_ref())
        .ok_or("no local server")?;
    println!();

    shared_plain_client(scripted, own_server.is_some())?;
    per_runtime_source(&backend)?;

    if let Some(server) = own_server {
        server_rt.block_on(server.shutdown());
    }
    server_rt.block_on(backend.shutdown());
    Ok(())
}

fn request() -> Result<ChatRequest, serde_json::Error> {
    serde_json::from_value(serde_json::json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Count slowly."}],
    }))
}

/// Part 1: one plain client, two runtimes. Always on the local server
/// (`own_server` says it is not the backend the rest of the example uses).
fn shared_plain_client(server: &LocalServer, own_server: bool) -> Result<(), Box<dyn Error>> {
    println!("1. One plain client shared by two runtimes (on the local server)");
    if own_server {
        println!(
            "   this part always uses a local server at {}: the failure needs a reply it can time",
            server.base_url()
        );
    }
    let client = Arc::new(Client::with_config(
        OpenAIConfig::new()
            .with_api_base(server.base_url())
            .with_api_key("local-key"),
    ));
    let (opened_tx, opened_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();

    server.push(Reply::text("hello"));
    let a_client = client.clone();
    let worker_a = std::thread::spawn(move || -> Result<(), String> {
        runtime().map_err(|e| e.to_string())?.block_on(async move {
            a_client
                .create(request().map_err(|e| e.to_string())?)
                .await
                .map_err(|e| e.to_string())?;
            let _ = opened_tx.send(());
            // Runtime A keeps running until B is mid-stream.
            let _ = tokio::time::timeout(Duration::from_secs(10), stop_rx).await;
            Ok(())
        })
    });
    opened_rx.recv_timeout(Duration::from_secs(10))?;
    println!("   runtime A made a request; its connection is now in the shared pool");

    server.push(
        Reply::text("one two three four five six seven eight")
            .chunks(8)
            .chunk_delay(Duration::from_millis(20)),
    );
    let b_client = client;
    let worker_b = std::thread::spawn(move || -> Result<String, String> {
        runtime().map_err(|e| e.to_string())?.block_on(async move {
            let mut stream = b_client
                .create_stream(request().map_err(|e| e.to_string())?)
                .await
                .map_err(|e| e.to_string())?;
            let mut stop = Some(stop_tx);
            let mut got = 0;
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(_) => got += 1,
                    Err(e) => return Ok(format!("failed after {got} chunks: {e}")),
                }
                if got == 3
                    && let Some(stop) = stop.take()
                {
                    println!(
                        "   runtime B is streaming over that connection; runtime A now shuts down"
                    );
                    let _ = stop.send(());
                }
            }
            Ok(format!("finished with {got} chunks"))
        })
    });
    worker_a.join().map_err(|_| "worker A panicked")??;
    let outcome = worker_b.join().map_err(|_| "worker B panicked")??;
    println!("   runtime B's stream {outcome}\n");
    Ok(())
}

/// Part 2: the per-runtime source, one runtime per worker thread, against
/// the backend (the local server, or the real API with a key).
fn per_runtime_source(backend: &Backend) -> Result<(), Box<dyn Error>> {
    println!("2. OpenAIModel with a per-runtime client source, {WORKERS} workers");
    let made = Arc::new(AtomicUsize::new(0));
    let counter = made.clone();
    let config = backend.config.clone();
    let model = Arc::new(
        OpenAIModel::builder(backend.model.clone())
            .per_runtime(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(Client::with_config(config.clone()))
            })
            .params(serde_json::json!({"max_completion_tokens": 16}))
            .build()?,
    );
    let accepted = backend
        .server
        .as_ref()
        .map_or(0, LocalServer::connections_accepted);
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let model = model.clone();
            std::thread::spawn(move || -> Result<usize, ModelError> {
                let rt = runtime().map_err(|e| ModelError::Config(e.to_string()))?;
                rt.block_on(async move {
                    let mut replies = 0;
                    for call in 0..CALLS_PER_WORKER {
                        let messages = [Message::user(format!(
                            "Reply with one word: pong. (worker {worker}, call {call})"
                        ))];
                        let mut events = std::pin::pin!(model.stream(&messages, &[], None, None));
                        while let Some(event) = events.next().await {
                            if let StreamEvent::ContentBlockDelta(BlockDelta::Text(_)) = event? {
                                replies += 1;
                            }
                        }
                    }
                    Ok(replies)
                })
                // The runtime is dropped here: so is its client.
            })
        })
        .collect();
    let mut pieces = 0;
    for worker in workers {
        pieces += worker.join().map_err(|_| "a worker panicked")??;
    }
    println!(
        "   {} calls, {pieces} text pieces, {} clients made (one per runtime)",
        WORKERS * CALLS_PER_WORKER,
        made.load(Ordering::SeqCst),
    );
    if let Some(server) = &backend.server {
        println!(
            "   the server accepted {} TCP connection(s) for them",
            server.connections_accepted() - accepted
        );
    }
    println!(
        "   clients still held after every runtime shut down: {}",
        model.client_source().runtimes()
    );
    Ok(())
}
