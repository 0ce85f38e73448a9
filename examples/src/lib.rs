//! What every example needs to start: the OpenAI API when `OPENAI_API_KEY`
//! is set, the local OpenAI-compatible server otherwise.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use openai_hooks::async_openai::config::{Config, OpenAIConfig};
use openai_hooks::server::{LocalServer, Reply};

/// Where an example's requests go.
#[derive(Debug)]
pub struct Backend {
    /// The configuration for async-openai clients: key and base URL.
    pub config: OpenAIConfig,
    /// The model to ask for: `OPENAI_MODEL`, or `gpt-4o-mini`.
    pub model: String,
    /// The local server, when no API key is set.
    pub server: Option<LocalServer>,
}

impl Backend {
    /// The OpenAI API (or `OPENAI_BASE_URL`) when `OPENAI_API_KEY` is set;
    /// otherwise the local server, answering with `local_reply` by default.
    pub async fn start(local_reply: Reply) -> std::io::Result<Self> {
        let model = std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".to_owned());
        if let Ok(key) = std::env::var("OPENAI_API_KEY") {
            let mut config = OpenAIConfig::new().with_api_key(key);
            if let Ok(base) = std::env::var("OPENAI_BASE_URL") {
                config = config.with_api_base(base);
            }
            println!("Using the OpenAI API at {}", config.api_base());
            return Ok(Self {
                config,
                model,
                server: None,
            });
        }
        let server = LocalServer::start().await?;
        server.set_default(local_reply);
        println!(
            "OPENAI_API_KEY is not set: using the local server at {}",
            server.base_url()
        );
        let config = OpenAIConfig::new()
            .with_api_base(server.base_url())
            .with_api_key("local-key");
        Ok(Self {
            config,
            model,
            server: Some(server),
        })
    }

    /// Stops the local server, if one runs.
    pub async fn shutdown(self) {
        if let Some(server) = self.server {
            server.shutdown().await;
        }
    }
}
