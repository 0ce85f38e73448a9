//! Azure OpenAI: async-openai's `AzureConfig` client, guarded by a
//! generated client and injected into `OpenAIModel`, with Azure's
//! content-filter results read as typed values.
//!
//! ```sh
//! cargo run --example azure
//! ```
//!
//! With `AZURE_OPENAI_ENDPOINT` (`https://<resource>.openai.azure.com`),
//! `AZURE_OPENAI_API_KEY` and `AZURE_OPENAI_DEPLOYMENT` set (and optionally
//! `AZURE_OPENAI_API_VERSION`), it calls your resource; otherwise the local
//! server, which answers Azure's deployment route as Azure does (an
//! `api-version` is required, the key goes in an `api-key` header).

use std::error::Error;

use futures::StreamExt;
use openai_hooks::async_openai::Client;
use openai_hooks::async_openai::config::AzureConfig;
use openai_hooks::guardrails::Pii;
use openai_hooks::model::{BlockDelta, Message, OpenAIModel, StreamEvent};
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks::{ChatClient, ChatRequest, openai_client};
use serde_json::json;

/// PII masked before the prompt leaves and in the streamed reply.
#[openai_client]
struct Guarded {
    #[inner]
    client: Client<AzureConfig>,
    #[pre_request]
    #[on_chunk]
    pii: Pii,
}

/// Where requests go: your Azure resource, or the local server.
async fn azure() -> Result<(AzureConfig, Option<LocalServer>), Box<dyn Error>> {
    let version = std::env::var("AZURE_OPENAI_API_VERSION").unwrap_or_else(|_| "2024-10-21".into());
    if let (Ok(endpoint), Ok(key), Ok(deployment)) = (
        std::env::var("AZURE_OPENAI_ENDPOINT"),
        std::env::var("AZURE_OPENAI_API_KEY"),
        std::env::var("AZURE_OPENAI_DEPLOYMENT"),
    ) {
        println!("Using Azure OpenAI at {endpoint} (deployment {deployment})");
        let config = AzureConfig::new()
            .with_api_base(endpoint)
            .with_api_key(key)
            .with_deployment_id(deployment)
            .with_api_version(version);
        return Ok((config, None));
    }
    let server = LocalServer::start().await?;
    server.push(Reply::text("Sure: write to <EMAIL_ADDRESS> and we will reply.").chunks(5));
    server.push(Reply::fixture(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/response/azure-length-content-filter.json"),
    ));
    let base = server.base_url();
    println!("AZURE_OPENAI_ENDPOINT is not set: using the local server's Azure routes at {base}");
    let config = AzureConfig::new()
        .with_api_base(base.trim_end_matches("/v1"))
        .with_api_key("local-key")
        .with_deployment_id("gpt-4o-mini")
        .with_api_version(version);
    Ok((config, Some(server)))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let (config, server) = azure().await?;
    let guarded = Guarded {
        client: Client::with_config(config.clone()),
        pii: Pii::new(),
    };

    // Through OpenAIModel, streamed: the prompt's e-mail is masked before it
    // leaves.
    let model = OpenAIModel::builder("gpt-4o-mini")
        .client(guarded)
        .build()?;
    let prompt = [Message::user("Please answer me at jane.doe@example.com")];
    print!("model: ");
    let mut events = Box::pin(model.stream(&prompt, &[], None, None));
    while let Some(event) = events.next().await {
        if let StreamEvent::ContentBlockDelta(BlockDelta::Text(t)) = event? {
            print!("{t}");
        }
    }
    println!();

    // A plain call, and Azure's filter results on it.
    let client = Client::with_config(config);
    let request: ChatRequest = serde_json::from_value(json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "What is the weather like?"}],
    }))?;
    let reply = client.create(request).await?;
    println!("reply: {}", reply.content().unwrap_or_default());
    for prompt in reply.prompt_filter_results() {
        let results = prompt.content_filter_results;
        println!(
            "prompt {} filter: {} categories checked, filtered: {}",
            prompt.prompt_index,
            results.0.len(),
            results.filtered()
        );
    }
    if let Some(results) = reply
        .choices
        .first()
        .and_then(|c| c.content_filter_results())
    {
        println!("completion filter: filtered: {}", results.filtered());
    }

    if let Some(server) = server {
        let first = &server.requests()[0];
        println!("the first request went to {}", first.path);
        println!("with the prompt {}", first.body["messages"][0]["content"]);
        server.shutdown().await;
    }
    Ok(())
}
