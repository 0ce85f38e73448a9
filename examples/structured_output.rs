//! Structured output: a typed reply, validated by the model's own strict
//! JSON schema mode and parsed into your type.
//!
//! ```sh
//! cargo run --example structured_output
//! ```
//!
//! `structured_output::<T>()` derives `T`'s JSON schema (schemars), fixes it
//! for OpenAI's strict mode (no extra properties, every property required,
//! `Option` as nullable), asks for it, and parses the reply. A refusal, or
//! text that is not a `T`, is a typed error that carries the raw text.

use std::error::Error;

use openai_hooks::OpenAIModel;
use openai_hooks::async_openai::Client;
use openai_hooks::model::{Message, ModelError, StructuredFailure, SystemPrompt};
use openai_hooks::server::Reply;
use openai_hooks_examples::backend;
use schemars::JsonSchema;
use serde::Deserialize;

/// What we want back: a support ticket's triage.
#[derive(Debug, Deserialize, JsonSchema)]
struct Triage {
    /// One of: billing, bug, account, other.
    category: Category,
    /// 1 (low) to 4 (urgent).
    priority: u8,
    /// A one-line summary.
    summary: String,
    /// The order number, if the customer gave one.
    order_id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Category {
    Billing,
    Bug,
    Account,
    Other,
}

const TICKET: &str = "Hi, I was charged twice for order #A-1042 yesterday. \
Please refund one of the charges as soon as possible.";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let backend = backend(Reply::echo()).await?;
    if let Some(server) = &backend.server {
        // The local server answers the first ticket with its default reply
        // and refuses the second, to show the typed error.
        server.set_default(Reply::refusal("I can't help with that request."));
        server.push(Reply::text(
            r#"{"category":"billing","priority":3,"summary":"Double charge on order A-1042; wants one refunded","order_id":"A-1042"}"#,
        ));
    }
    let model = OpenAIModel::builder(backend.model.clone())
        .client(Client::with_config(backend.config.clone()))
        .build()?;
    let system = SystemPrompt::from("You triage customer support tickets.");

    let triage: Triage = model
        .structured_output(&[Message::user(TICKET)], Some(&system))
        .await?;
    println!("ticket:   {TICKET}");
    println!("category: {:?}", triage.category);
    println!("priority: {}", triage.priority);
    println!("summary:  {}", triage.summary);
    println!("order:    {}", triage.order_id.as_deref().unwrap_or("-"));

    if backend.server.is_some() {
        match model
            .structured_output::<Triage>(
                &[Message::user("Triage this: <something unsafe>")],
                Some(&system),
            )
            .await
        {
            Err(ModelError::StructuredOutput {
                kind: StructuredFailure::Refusal,
                raw,
                ..
            }) => {
                println!("\nsecond ticket refused, as a typed error: {raw:?}");
            }
            other => return Err(format!("expected a refusal, got {other:?}").into()),
        }
        let sent = &backend
            .server
            .as_ref()
            .map(|s| s.requests())
            .unwrap_or_default()[0];
        println!(
            "the request asked for strict JSON schema {:?}",
            sent.body["response_format"]["json_schema"]["name"]
        );
    }
    backend.shutdown().await;
    Ok(())
}
