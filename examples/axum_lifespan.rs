//! The lifespan pattern in Rust: one guarded client built in `main` at
//! startup, held in the router's state, shared by every handler, and
//! dropped at graceful shutdown.
//!
//! ```sh
//! cargo run --example axum_lifespan            # serves, calls itself, stops
//! cargo run --example axum_lifespan -- --serve # serves until Ctrl-C
//! ```
//!
//! FastAPI services create their OpenAI client in a lifespan handler so
//! every request reuses one connection pool. Here the same shape is plain
//! ownership: `main` builds the client, the router's state holds an `Arc`
//! to it, handlers borrow it, and when the server has drained after
//! shutdown the last `Arc` goes and the pool closes with it. Never build a
//! client per request: each one pays for its own TCP (and TLS) handshakes.
//!
//! `POST /ask {"question": "..."}` answers with JSON; `POST /stream` streams
//! the model's reply to the browser as server-sent events. Personal data is
//! masked both ways: before the question leaves, and in the answer, chunk by
//! chunk, before the browser sees it.

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures::StreamExt;
use openai_hooks::async_openai::Client;
use openai_hooks::async_openai::config::OpenAIConfig;
use openai_hooks::client::stream_owned;
use openai_hooks::guardrails::Pii;
use openai_hooks::server::Reply;
use openai_hooks::{ChatClient, ChatRequest, ClientError, openai_client};
use openai_hooks_examples::backend;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The guarded client: PII masked in the question and in the answer.
#[openai_client]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
    #[pre_request]
    mask_question: Pii,
    #[post_response]
    mask_answer: Pii,
    #[on_chunk]
    mask_stream: Pii,
}

/// What every handler shares: the one client, and the model to ask.
#[derive(Clone)]
struct AppState {
    llm: Arc<Guarded>,
    model: Arc<str>,
}

impl AppState {
    /// The model request for a `{"question": "..."}` body, or why not.
    fn request(&self, body: &Value) -> Result<ChatRequest, (StatusCode, String)> {
        let Some(question) = body["question"].as_str() else {
            let why = "expected {\"question\": \"...\"}".to_owned();
            return Err((StatusCode::BAD_REQUEST, why));
        };
        serde_json::from_value(json!({
            "model": &*self.model,
            "messages": [{"role": "user", "content": question}],
            "max_completion_tokens": 80,
        }))
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))
    }
}

/// Maps a client error to a response without leaking details to the
/// caller: the detail (`Display`: hook, reason, the server's message) goes
/// to the log, the browser gets the error's public message, a fixed
/// sentence that never names what a guardrail matched or a server said.
fn upstream_error(e: &ClientError) -> Response {
    tracing::warn!(error = %e, "model call failed");
    let status = match e {
        ClientError::Hook(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::BAD_GATEWAY,
    };
    (status, e.public_message()).into_response()
}

async fn ask(State(app): State<AppState>, Json(body): Json<Value>) -> Response {
    let req = match app.request(&body) {
        Ok(req) => req,
        Err(bad) => return bad.into_response(),
    };
    match app.llm.create(req).await {
        Ok(reply) => Json(json!({"answer": reply.content().unwrap_or_default()})).into_response(),
        Err(e) => upstream_error(&e),
    }
}

async fn stream(State(app): State<AppState>, Json(body): Json<Value>) -> Response {
    let req = match app.request(&body) {
        Ok(req) => req,
        Err(bad) => return bad.into_response(),
    };
    // An owned stream holds its own `Arc` of the client, so the handler can
    // return it; when the browser goes away axum drops it, and with it the
    // model call and its connection. An error before the first chunk is a
    // status; one after it, a last `error` event.
    let chunks = match stream_owned(Arc::clone(&app.llm), req).await {
        Ok(chunks) => chunks,
        Err(e) => return upstream_error(&e),
    };
    let events = chunks
        .filter_map(|chunk| async move {
            match chunk {
                Ok(chunk) => chunk
                    .content()
                    .filter(|text| !text.is_empty())
                    .map(|text| Event::default().data(text)),
                Err(e) => {
                    tracing::warn!(error = %e, "model stream failed");
                    Some(Event::default().event("error").data(e.public_message()))
                }
            }
        })
        .chain(futures::stream::once(async {
            Event::default().event("done").data("")
        }))
        .map(Ok::<_, std::convert::Infallible>);
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn app(state: AppState) -> Router {
    Router::new()
        .route("/ask", post(ask))
        .route("/stream", post(stream))
        .with_state(state)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let serve_forever = std::env::args().any(|a| a == "--serve");
    let backend = backend(
        Reply::echo()
            .chunks(6)
            .chunk_delay(Duration::from_millis(20)),
    )
    .await?;

    // Startup: the one client of this process.
    let llm = Arc::new(Guarded {
        client: Client::with_config(backend.config.clone()),
        mask_question: Pii::new(),
        mask_answer: Pii::new(),
        mask_stream: Pii::new(),
    });
    let state = AppState {
        llm: llm.clone(),
        model: backend.model.clone().into(),
    };

    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, app(state))
            .with_graceful_shutdown(async move {
                if serve_forever {
                    let _ = tokio::signal::ctrl_c().await;
                } else {
                    let _ = stopped.await;
                }
            })
            .into_future(),
    );
    println!("serving on http://{addr} (POST /ask, POST /stream)");

    if serve_forever {
        println!(
            "try: curl -N -X POST http://{addr}/stream -H 'content-type: application/json' -d '{{\"question\":\"hi\"}}'"
        );
    } else {
        call_ourselves(addr).await?;
        let _ = stop.send(());
    }
    // Shutdown: the server drains, its state (one Arc) goes...
    server.await??;
    // ... and ours is the last one: dropping it closes the pool.
    println!(
        "shut down; references to the client left: {} (ours)",
        last_reference(&llm).await
    );
    drop(llm);

    if let Some(local) = &backend.server {
        println!(
            "the model server saw {} requests on {} connection(s); the first question it received: {}",
            local.requests().len(),
            local.connections_accepted(),
            local.requests()[0].body["messages"][0]["content"]
        );
    }
    backend.shutdown().await;
    Ok(())
}

/// How many references to `llm` are left once the server's tasks are gone.
/// Graceful shutdown returns when every connection has closed, but the
/// tasks that served them (and a handler's spawned task) drop their clones
/// of the state a moment later, on other threads: wait for the count to
/// settle at one, up to five seconds.
async fn last_reference<T>(llm: &Arc<T>) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while Arc::strong_count(llm) > 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Arc::strong_count(llm)
}

/// What a browser would do: one JSON question, one streamed one.
async fn call_ourselves(addr: SocketAddr) -> Result<(), Box<dyn Error>> {
    let http = reqwest::Client::new();
    let answer: Value = http
        .post(format!("http://{addr}/ask"))
        .json(&json!({"question": "My e-mail is jane.doe@example.com; what is a connection pool?"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    println!("POST /ask    -> {}", answer["answer"]);

    let mut sse = http
        .post(format!("http://{addr}/stream"))
        .json(&json!({"question": "Call me at +1 415 555 0100 and explain keep-alive."}))
        .send()
        .await?
        .error_for_status()?
        .bytes_stream();
    print!("POST /stream -> ");
    let mut body = String::new();
    while let Some(bytes) = sse.next().await {
        body.push_str(&String::from_utf8_lossy(&bytes?));
        if body.contains("event: done") {
            break;
        }
    }
    let text: String = body
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .collect();
    println!("{text}");
    Ok(())
}
