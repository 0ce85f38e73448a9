//! The main job: one guarded client, a reply streamed as it arrives, and
//! proof of what left the process.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! With no `OPENAI_API_KEY` it starts the local OpenAI-compatible server on
//! 127.0.0.1 and talks to it; with one set it talks to OpenAI (or to
//! `OPENAI_BASE_URL`), using `OPENAI_MODEL` (default `gpt-4o-mini`).

use std::error::Error;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use openai_hooks::async_openai::Client;
use openai_hooks::server::Reply;
use openai_hooks::text::request_texts_mut;
use openai_hooks::{
    ChatChunk, ChatClient, ChatRequest, ChunkAction, HookContext, HookError, OnChunk, PreRequest,
    openai_client,
};
use openai_hooks_examples::backend;

/// Masks e-mail addresses in user text before the request leaves.
struct MaskEmails;

/// How many addresses the pre-request hook masked, handed to later hooks
/// through the call's context.
#[derive(Clone, Copy, Debug)]
struct Masked(usize);

impl PreRequest for MaskEmails {
    async fn pre_request(
        &self,
        req: &mut ChatRequest,
        cx: &mut HookContext,
    ) -> Result<(), HookError> {
        let mut masked = 0;
        for (author, text) in request_texts_mut(req) {
            if author.is_untrusted() {
                masked += mask_emails(text);
            }
        }
        cx.extensions_mut().insert(Masked(masked));
        Ok(())
    }
}

/// Replaces each word that looks like an e-mail address with
/// `<EMAIL_ADDRESS>`; returns how many it replaced.
fn mask_emails(text: &mut String) -> usize {
    let mut count = 0;
    let masked: Vec<String> = text
        .split(' ')
        .map(|word| {
            let core = word.trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
            let looks_like_email = core
                .split_once('@')
                .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'));
            if looks_like_email {
                count += 1;
                format!("<EMAIL_ADDRESS>{}", &word[core.len()..])
            } else {
                word.to_owned()
            }
        })
        .collect();
    *text = masked.join(" ");
    count
}

/// Counts the chunks and characters streamed to the caller. A chunk hook
/// sees every chunk before the caller does.
struct Meter {
    chunks: Arc<AtomicUsize>,
    chars: Arc<AtomicUsize>,
    masked: Arc<AtomicUsize>,
}

impl OnChunk for Meter {
    type State = ();

    fn on_chunk(
        &self,
        chunk: &mut ChatChunk,
        _: &mut (),
        _cx: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        self.chunks.fetch_add(1, Ordering::Relaxed);
        let text = chunk.content().unwrap_or_default();
        self.chars
            .fetch_add(text.chars().count(), Ordering::Relaxed);
        Ok(ChunkAction::Pass)
    }

    /// At the end of the stream, reads what the pre-request hook left in
    /// the call's context.
    fn on_end(&self, _: &mut (), cx: &HookContext) -> Result<Option<ChatChunk>, HookError> {
        if let Some(Masked(n)) = cx.extensions().get::<Masked>() {
            self.masked.store(*n, Ordering::Relaxed);
        }
        Ok(None)
    }
}

/// The guarded client: the macro makes it a `ChatClient` that runs the
/// hooks around the inner client.
#[openai_client]
struct Guarded<C> {
    #[inner]
    client: C,
    #[pre_request]
    pii: MaskEmails,
    #[on_chunk]
    meter: Meter,
}

const PROMPT: &str = "I'm jane.doe@example.com. Write a haiku about reusing connections.";

const LOCAL_REPLY: &str = "One pool, warm and near:\n\
requests reuse the open line,\n\
no handshake to wait.";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // The OpenAI API when OPENAI_API_KEY is set, the local server otherwise.
    let backend = backend(
        Reply::text(LOCAL_REPLY)
            .chunks(14)
            .chunk_delay(Duration::from_millis(40)),
    )
    .await?;

    let chunks = Arc::new(AtomicUsize::new(0));
    let chars = Arc::new(AtomicUsize::new(0));
    let masked = Arc::new(AtomicUsize::new(0));
    // One client for the whole program: built once, shared by every call.
    let client = Guarded {
        client: Client::with_config(backend.config.clone()),
        pii: MaskEmails,
        meter: Meter {
            chunks: chunks.clone(),
            chars: chars.clone(),
            masked: masked.clone(),
        },
    };

    let request: ChatRequest = serde_json::from_value(serde_json::json!({
        "model": backend.model,
        "messages": [{"role": "user", "content": PROMPT}],
    }))?;
    println!("\n> {PROMPT}\n");

    let mut stream = client.create_stream(request).await?;
    let mut out = std::io::stdout();
    while let Some(chunk) = stream.next().await {
        if let Some(text) = chunk?.content() {
            write!(out, "{text}")?;
            out.flush()?;
        }
    }
    drop(stream);
    println!(
        "\n\n{} chunks, {} characters streamed; {} e-mail address(es) masked before sending",
        chunks.load(Ordering::Relaxed),
        chars.load(Ordering::Relaxed),
        masked.load(Ordering::Relaxed)
    );

    if let Some(server) = &backend.server {
        let sent = server.requests();
        println!(
            "The server received {} request(s) on {} connection(s); the prompt it saw:\n  {}",
            sent.len(),
            server.connections_accepted(),
            sent[0].body["messages"][0]["content"]
        );
    }
    backend.shutdown().await;
    Ok(())
}
