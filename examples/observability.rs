//! Observability: every call traced with the OpenTelemetry GenAI attribute
//! names, printed by `tracing-subscriber`.
//!
//! ```sh
//! cargo run --example observability
//! RUST_LOG=openai_hooks=info cargo run --example observability
//! ```
//!
//! The [`Telemetry`] hook opens a `chat {model}` span before the request
//! leaves and records on it the reply's model, finish reasons, token usage,
//! time to first token and duration; the span closes when the call ends.
//! Here a `fmt` subscriber prints each span as it closes; in production the
//! same spans go to `tracing-opentelemetry` and on to your collector.

use std::error::Error;
use std::time::Duration;

use futures::StreamExt;
use openai_hooks::async_openai::Client;
use openai_hooks::async_openai::config::OpenAIConfig;
use openai_hooks::server::Reply;
use openai_hooks::telemetry::Telemetry;
use openai_hooks::{ChatClient, ChatRequest, openai_client};
use openai_hooks_examples::backend;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// One `Telemetry` value serves as all three kinds of hook.
#[openai_client]
struct Traced {
    #[inner]
    client: Client<OpenAIConfig>,
    #[pre_request]
    open_span: Telemetry,
    #[on_chunk]
    watch_chunks: Telemetry,
    #[post_response]
    close_span: Telemetry,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // Print each span with its fields when it closes.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("openai_hooks=info")),
        )
        .with_span_events(FmtSpan::CLOSE)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();

    let backend = backend(
        Reply::text("Spans, metrics and logs, all with the same names.")
            .chunks(6)
            .first_byte_delay(Duration::from_millis(30))
            .usage(21, 12),
    )
    .await?;
    let telemetry = Telemetry::new().system("openai");
    let client = Traced {
        client: Client::with_config(backend.config.clone()),
        open_span: telemetry.clone(),
        watch_chunks: telemetry.clone(),
        close_span: telemetry,
    };

    let ask = |stream: bool| -> Result<ChatRequest, serde_json::Error> {
        serde_json::from_value(serde_json::json!({
            "model": backend.model,
            "messages": [{"role": "user", "content": "In one sentence: why trace LLM calls?"}],
            "max_completion_tokens": 60,
            "temperature": 0.2,
            "stream_options": if stream { serde_json::json!({"include_usage": true}) } else { serde_json::Value::Null },
        }))
    };

    println!("\n-- one reply --");
    let reply = client.create(ask(false)?).await?;
    println!("{}", reply.content().unwrap_or_default());

    println!("\n-- one stream --");
    let mut stream = client.create_stream(ask(true)?).await?;
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        text.push_str(chunk?.content().unwrap_or_default());
    }
    // The span closes (and is printed) when the stream is dropped.
    drop(stream);
    println!("{text}");

    backend.shutdown().await;
    Ok(())
}
