//! [`Backend`]: the OpenAI API when a key is set, the local server
//! otherwise.

use async_openai::config::{Config, OpenAIConfig};

use super::{LocalServer, Reply};

/// Where requests go: the OpenAI API when `OPENAI_API_KEY` is set, the
/// local server otherwise. The switch every example uses, for your own
/// examples, demos and smoke tests.
///
/// ```
/// use openai_hooks::server::{Backend, Reply};
/// use openai_hooks::async_openai::Client;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let backend = Backend::start(Reply::text("Hello from the local server")).await?;
/// println!("{}", backend.describe());
/// let client = Client::with_config(backend.config.clone());
/// # drop(client);
/// backend.shutdown().await;
/// # Ok(()) }
/// ```
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
            return Ok(Self {
                config,
                model,
                server: None,
            });
        }
        let server = LocalServer::start().await?;
        server.set_default(local_reply);
        let config = OpenAIConfig::new()
            .with_api_base(server.base_url())
            .with_api_key("local-key");
        Ok(Self {
            config,
            model,
            server: Some(server),
        })
    }

    /// Where requests go, in a sentence to print at startup.
    pub fn describe(&self) -> String {
        match &self.server {
            Some(server) => format!(
                "OPENAI_API_KEY is not set: using the local server at {}",
                server.base_url()
            ),
            None => format!("Using the OpenAI API at {}", self.config.api_base()),
        }
    }

    /// Stops the local server, if one runs.
    pub async fn shutdown(self) {
        if let Some(server) = self.server {
            server.shutdown().await;
        }
    }
}
