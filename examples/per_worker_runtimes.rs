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

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use openai_hooks::OpenAIModel;
use openai_hooks::async_openai::Client;
use openai_hooks::model::{BlockDelta, Message, ModelError, StreamEvent};
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks::{ChatClient, ChatRequest};

const WORKERS: usize = 4;
const CALLS_PER_WORKER: usize = 5;

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

fn main() -> Result<(), Box<dyn Error>> {
    // This example is about runtimes, so it runs the local server on a
    // runtime of its own (and always uses it: the failure it shows needs a
    // server it can time).
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let server = Arc::new(server_rt.block_on(LocalServer::start())?);
    println!("local server at {}\n", server.base_url());

    shared_plain_client(&server)?;
    per_runtime_source(&server)?;

    let server = Arc::into_inner(server).ok_or("the server is still shared")?;
    server_rt.block_on(server.shutdown());
    Ok(())
}

fn request() -> Result<ChatRequest, serde_json::Error> {
    serde_json::from_value(serde_json::json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Count slowly."}],
    }))
}

/// Part 1: one plain client, two runtimes.
fn shared_plain_client(server: &LocalServer) -> Result<(), Box<dyn Error>> {
    println!("1. One plain client shared by two runtimes");
    let client = Arc::new(Client::with_config(
        openai_hooks::async_openai::config::OpenAIConfig::new().with_api_base(server.base_url()),
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

/// Part 2: the per-runtime source, one runtime per worker thread.
fn per_runtime_source(server: &Arc<LocalServer>) -> Result<(), Box<dyn Error>> {
    println!("2. OpenAIModel with a per-runtime client source, {WORKERS} workers");
    server.set_default(Reply::text("pong").chunks(2));
    let made = Arc::new(AtomicUsize::new(0));
    let counter = made.clone();
    let base = server.base_url();
    let model = Arc::new(
        OpenAIModel::builder("gpt-4o-mini")
            .per_runtime(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(Client::with_config(
                    openai_hooks::async_openai::config::OpenAIConfig::new().with_api_base(&base),
                ))
            })
            .build()?,
    );
    let accepted = server.connections_accepted();
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let model = model.clone();
            std::thread::spawn(move || -> Result<usize, ModelError> {
                let rt = runtime().map_err(|e| ModelError::Config(e.to_string()))?;
                rt.block_on(async move {
                    let mut replies = 0;
                    for call in 0..CALLS_PER_WORKER {
                        let messages = [Message::user(format!(
                            "ping from worker {worker}, call {call}"
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
        "   {} calls, {pieces} text pieces, {} clients made (one per runtime), {} TCP connections",
        WORKERS * CALLS_PER_WORKER,
        made.load(Ordering::SeqCst),
        server.connections_accepted() - accepted,
    );
    println!(
        "   clients still held after every runtime shut down: {}",
        model.client_source().runtimes()
    );
    Ok(())
}
