//! A guarded Responses API stream: a client generated with
//! `#[openai_client(api = responses)]` masks PII before the request leaves
//! and in every streamed event, however the deltas are cut, and blocks a
//! confidential codename mid-stream.
//!
//! ```sh
//! cargo run --example responses
//! ```
//!
//! Two calls: one whose reply carries an e-mail address and a phone number
//! (masked in the deltas and in every event that repeats the text); one
//! whose reply names the codename half-way, which ends the stream there
//! with the tripwire (the name never reaches the caller, nor the error
//! text shown to a user).

use std::error::Error;
use std::io::Write;

use futures::StreamExt;
use openai_hooks::async_openai::Client;
use openai_hooks::async_openai::config::OpenAIConfig;
use openai_hooks::async_openai::types::responses::CreateResponseArgs;
use openai_hooks::guardrails::{Keywords, Pii};
use openai_hooks::server::Reply;
use openai_hooks::{ResponsesClient, openai_client};
use openai_hooks_examples::backend;

#[openai_client(api = responses)]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
    #[pre_request]
    #[on_chunk]
    pii: Pii,
    #[on_chunk]
    codenames: Keywords,
}

async fn ask(client: &Guarded, model: &str, prompt: &str) -> Result<(), Box<dyn Error>> {
    println!("> {prompt}");
    let request = CreateResponseArgs::default()
        .model(model)
        .input(prompt)
        .build()?;
    let mut events = client.create_stream(request).await?;
    print!("  ");
    while let Some(event) = events.next().await {
        match event {
            Ok(event) if event.kind == "response.output_text.delta" => {
                print!("{}", event.delta_text().unwrap_or_default());
                std::io::stdout().flush()?;
            }
            Ok(event) if event.kind == "response.completed" => {
                let response = event.response.unwrap_or_default();
                println!("\n  completed: {}", response.output_text());
            }
            Ok(_) => {}
            Err(e) => {
                println!("\n  stream stopped: {e}");
                println!("  the user sees: {}", e.public_message());
            }
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let backend = backend(Reply::text("Hello")).await?;
    if let Some(server) = &backend.server {
        server.push(Reply::text("Write to jane.doe@example.com or call 555-123-4567.").chunks(9));
        server.push(Reply::text("The plan is called Project Zephyr and ships in May.").chunks(7));
    }
    let client = Guarded {
        client: Client::with_config(backend.config.clone()),
        pii: Pii::new(),
        codenames: Keywords::new(["project zephyr"])?,
    };
    ask(
        &client,
        &backend.model,
        "How do I reach support? My mail is me@example.org",
    )
    .await?;
    ask(&client, &backend.model, "What is the plan called?").await?;
    if let Some(server) = &backend.server {
        let sent = &server.requests()[0].body["input"];
        println!("the first request left as: {sent}");
    }
    backend.shutdown().await;
    Ok(())
}
