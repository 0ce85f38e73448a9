//! A guardrail pipeline loaded from JSON (openai-guardrails' bundle shape),
//! with the service's own hooks around it, and a tripwire in the middle of
//! a stream.
//!
//! ```sh
//! cargo run --example guardrails
//! ```
//!
//! The bundle, `examples/guardrails.json`, masks e-mail addresses and phone
//! numbers before the request leaves (`pre_flight`), moderates the input
//! while the call is already in flight (`input`), and checks every streamed
//! chunk for competitor names, secrets and URLs before the caller sees it
//! (`output`). Around it, `#[openai_client]` adds the service's own hooks:
//! an input budget (a built-in guardrail used as a plain hook) and a meter
//! of what reached the caller.
//!
//! Three calls: a clean one; one whose reply names a competitor half-way,
//! which ends the stream there with the tripwire (the name never reaches
//! the caller); one over the input budget, which never leaves the process.

use std::error::Error;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use openai_hooks::async_openai::Client;
use openai_hooks::guardrails::InputBudget;
use openai_hooks::guardrails::pipeline::{
    Pipeline, PipelineClients, PipelineResults, PipelineStage,
};
use openai_hooks::server::Reply;
use openai_hooks::{
    ChatChunk, ChatClient, ChatRequest, ChunkAction, HookContext, HookError, OnChunk, openai_client,
};
use openai_hooks_examples::backend;

/// The bundle, as a deployment would ship it next to the service.
const BUNDLE: &str = include_str!("guardrails.json");

/// Counts the characters that reached the caller. It wraps the pipeline,
/// so it sees each chunk after the pipeline's output guardrails passed it.
#[derive(Default)]
struct Meter {
    chars: Arc<AtomicUsize>,
}

impl OnChunk for Meter {
    type State = ();

    fn on_chunk(
        &self,
        chunk: &mut ChatChunk,
        _: &mut (),
        _: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        let n = chunk.content().map_or(0, |t| t.chars().count());
        self.chars.fetch_add(n, Ordering::Relaxed);
        Ok(ChunkAction::Pass)
    }
}

/// The service's client: its own hooks around the pipeline's client.
#[openai_client]
struct Service<C> {
    #[inner]
    client: C,
    #[pre_request]
    budget: InputBudget,
    #[on_chunk]
    meter: Meter,
}

/// One line per check of a call, as the pipeline reports them.
fn print_results(results: &PipelineResults) {
    for (stage, list) in [
        ("pre_flight", &results.pre_flight),
        ("input", &results.input),
        ("output", &results.output),
    ] {
        for r in list {
            let verdict = if r.tripped { "TRIPPED" } else { "passed" };
            println!(
                "    {stage:<10} {:<12} {verdict:<8} {}",
                r.guardrail, r.info
            );
        }
    }
}

fn request(model: &str, prompt: &str) -> Result<ChatRequest, serde_json::Error> {
    serde_json::from_value(serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
    }))
}

/// The last call's results, as the pipeline hands them over.
type LastResults = Arc<Mutex<Option<PipelineResults>>>;

/// Streams one reply to stdout, then prints the pipeline's checks.
async fn ask(
    client: &impl ChatClient,
    last: &LastResults,
    model: &str,
    prompt: &str,
) -> Result<(), Box<dyn Error>> {
    let shown: String = prompt.chars().take(90).collect();
    let more = if shown.len() < prompt.len() {
        "..."
    } else {
        ""
    };
    println!("\n> {shown}{more}");
    let outcome = stream_reply(client, model, prompt).await;
    if let Some(results) = last.lock().map_err(|_| "results lock")?.take() {
        println!("  checks:");
        print_results(&results);
    }
    outcome
}

async fn stream_reply(
    client: &impl ChatClient,
    model: &str,
    prompt: &str,
) -> Result<(), Box<dyn Error>> {
    let mut out = std::io::stdout();
    let mut stream = match client.create_stream(request(model, prompt)?).await {
        Ok(stream) => stream,
        Err(e) => {
            println!("  refused before sending: {e}");
            return Ok(());
        }
    };
    write!(out, "  ")?;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                if let Some(text) = chunk.content() {
                    write!(out, "{text}")?;
                    out.flush()?;
                }
            }
            Err(e) => {
                // `Display` is the detail, for the operator's log; an end
                // user is shown the public message only.
                println!("\n  stream stopped: {e}");
                if let Some(trip) = e.tripwire() {
                    println!("  tripwire info: {}", trip.info);
                }
                println!("  the user sees: {}", e.public_message());
                return Ok(());
            }
        }
    }
    println!();
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let backend = backend(Reply::text("(no reply scripted)")).await?;
    if let Some(server) = &backend.server {
        // What the local model says to the first two prompts.
        server.push(
            Reply::text("A pool keeps connections open, so each call skips the handshake.")
                .chunks(10)
                .chunk_delay(Duration::from_millis(30)),
        );
        server.push(
            Reply::text("Between the two, Acme Corp has the better uptime record this year.")
                .chunks(16)
                .chunk_delay(Duration::from_millis(30)),
        );
    }

    // One async-openai client: it serves the calls and the moderation
    // checks, over one connection pool.
    let openai = Client::with_config(backend.config.clone());
    // Every mistake in the bundle (an unknown name or field, a bad value)
    // is an error here that names the stage, the entry and the field.
    let pipeline = Pipeline::from_json(BUNDLE, &PipelineClients::new().openai(openai.clone()))?;
    println!(
        "Pipeline loaded: pre_flight {:?}, input {:?}, output {:?}",
        pipeline.names(PipelineStage::PreFlight),
        pipeline.names(PipelineStage::Input),
        pipeline.names(PipelineStage::Output),
    );
    let chars = Arc::new(AtomicUsize::new(0));
    let last = LastResults::default();
    let service = Service {
        client: pipeline.wrap(openai).on_results({
            let last = last.clone();
            move |results| {
                if let Ok(mut slot) = last.lock() {
                    *slot = Some(results.clone());
                }
            }
        }),
        budget: InputBudget::new().max_chars(2_000),
        meter: Meter {
            chars: chars.clone(),
        },
    };

    let model = &backend.model;
    ask(
        &service,
        &last,
        model,
        "I'm jane.doe@example.com. In one sentence: why reuse HTTP connections?",
    )
    .await?;
    ask(
        &service,
        &last,
        model,
        "Repeat exactly: Between the two, Acme Corp has the better uptime record this year.",
    )
    .await?;
    ask(
        &service,
        &last,
        model,
        &"Summarise this log line. ".repeat(100),
    )
    .await?;

    println!(
        "\n{} characters reached the caller in all.",
        chars.load(Ordering::Relaxed)
    );
    if let Some(server) = &backend.server {
        let sent = server.requests();
        let chats: Vec<_> = sent
            .iter()
            .filter(|r| r.path.ends_with("/chat/completions"))
            .collect();
        let moderations = sent
            .iter()
            .filter(|r| r.path.ends_with("/moderations"))
            .count();
        println!(
            "The server received {} chat request(s) and {moderations} moderation request(s); the first prompt it saw:\n  {}",
            chats.len(),
            chats[0].body["messages"][0]["content"]
        );
    }
    drop(service);
    backend.shutdown().await;
    Ok(())
}
