//! Gateway routing: a pre-request hook picks the model for each request,
//! and one injected client talks to a gateway (LiteLLM, an internal proxy,
//! Azure API Management...) with the headers it needs.
//!
//! ```sh
//! cargo run --example gateway_routing
//! ```
//!
//! Callers ask for a tier (`fast` or `smart`) instead of a model name; the
//! hook maps the tier to the deployment behind the gateway and moves long
//! prompts up a tier. The gateway's routing headers are set once, on the
//! client, not on every call site.

use std::error::Error;

use openai_hooks::async_openai::Client;
use openai_hooks::async_openai::config::OpenAIConfig;
use openai_hooks::server::Reply;
use openai_hooks::text::request_texts_mut;
use openai_hooks::{
    ChatClient, ChatRequest, ChatResponse, HookContext, HookError, PostResponse, PreRequest,
    openai_client,
};
use openai_hooks_examples::backend;

/// Which deployment each tier names behind the gateway.
struct Router {
    fast: String,
    smart: String,
    /// Prompts longer than this (in characters) go to the smart tier.
    long_prompt: usize,
}

/// The decision, handed to later hooks through the call's context.
#[derive(Clone, Debug)]
struct Routed {
    tier: &'static str,
}

impl PreRequest for Router {
    async fn pre_request(
        &self,
        req: &mut ChatRequest,
        cx: &mut HookContext,
    ) -> Result<(), HookError> {
        let length: usize = request_texts_mut(req)
            .into_iter()
            .map(|(_, text)| text.len())
            .sum();
        let tier = match req.model.as_str() {
            "smart" => "smart",
            "fast" if length > self.long_prompt => "smart",
            "fast" => "fast",
            other => {
                // Unknown tiers are refused before anything leaves.
                return Err(HookError::tripwire(format!(
                    "unknown model tier {other:?}: use \"fast\" or \"smart\""
                )));
            }
        };
        req.model = if tier == "smart" {
            self.smart.clone()
        } else {
            self.fast.clone()
        };
        cx.extensions_mut().insert(Routed { tier });
        Ok(())
    }
}

/// Reads the router's decision from the call's context after the reply,
/// as an audit log or a cost meter would.
struct Audit;

impl PostResponse for Audit {
    async fn post_response(
        &self,
        reply: &mut ChatResponse,
        cx: &mut HookContext,
    ) -> Result<(), HookError> {
        if let Some(Routed { tier }) = cx.extensions().get::<Routed>() {
            let tokens = reply.usage.as_ref().map_or(0, |u| u.total_tokens);
            println!(
                "  audit: request {} routed to tier {tier}, {tokens} tokens",
                cx.request_id()
            );
        }
        Ok(())
    }
}

#[openai_client]
struct Gateway {
    #[inner]
    client: Client<OpenAIConfig>,
    #[pre_request]
    route: Router,
    #[post_response]
    audit: Audit,
}

fn ask(tier: &str, prompt: &str) -> Result<ChatRequest, serde_json::Error> {
    serde_json::from_value(serde_json::json!({
        "model": tier,
        "messages": [{"role": "user", "content": prompt}],
        "max_completion_tokens": 40,
    }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let backend = backend(Reply::echo()).await?;
    // The gateway's headers go on the one client every call shares.
    let config = backend
        .config
        .clone()
        .with_header("x-gateway-team", "payments")?
        .with_header("x-gateway-cache", "bypass")?;
    let local = backend.server.is_some();
    let client = Gateway {
        client: Client::with_config(config),
        route: Router {
            fast: if local {
                "fast-deployment".into()
            } else {
                backend.model.clone()
            },
            smart: if local {
                "smart-deployment".into()
            } else {
                backend.model.clone()
            },
            long_prompt: 200,
        },
        audit: Audit,
    };

    let long = format!(
        "Summarise this in five words: {}",
        "the pool stays warm. ".repeat(20)
    );
    for (tier, prompt) in [
        ("fast", "Say hi in three words."),
        ("fast", long.as_str()),
        ("smart", "Name one prime."),
    ] {
        let reply = client.create(ask(tier, prompt)?).await?;
        println!(
            "asked {tier:>5}, served by {:<18} -> {}",
            reply.model,
            truncate(reply.content().unwrap_or_default())
        );
    }
    match client.create(ask("huge", "hi")?).await {
        Err(e) => println!("asked  huge: refused before sending: {e}"),
        Ok(_) => return Err("an unknown tier must not be sent".into()),
    }

    if let Some(server) = &backend.server {
        let sent = server.requests();
        println!(
            "\nWhat the gateway received ({} requests; the refused one never left):",
            sent.len()
        );
        for r in &sent {
            println!(
                "  model={:<18} x-gateway-team={} x-gateway-cache={}",
                r.body["model"].as_str().unwrap_or_default(),
                r.headers.get("x-gateway-team").map_or("-", String::as_str),
                r.headers.get("x-gateway-cache").map_or("-", String::as_str),
            );
        }
    }
    backend.shutdown().await;
    Ok(())
}

fn truncate(text: &str) -> String {
    let mut out: String = text.chars().take(48).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}
