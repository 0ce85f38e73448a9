//! What is measured: ways of calling the server, each one a subject.

use futures::StreamExt;
use openai_hooks::async_openai::Client;
use openai_hooks::async_openai::config::OpenAIConfig;
use openai_hooks::{ChatClient, ChatRequest, ClientError};
use openai_hooks_bench::hooks::Hooked;

/// How clients reach the server: its base URL and, over HTTPS, the
/// certificate to trust.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) base_url: String,
    pub(crate) certificate: Option<reqwest::Certificate>,
}

impl Endpoint {
    /// A new HTTP client (a new pool), trusting the server's certificate.
    pub(crate) fn http(&self) -> Result<reqwest::Client, ClientError> {
        let mut b = reqwest::Client::builder();
        if let Some(cert) = &self.certificate {
            b = b.tls_certs_merge([cert.clone()]);
        }
        b.build().map_err(|e| ClientError::Transport {
            message: format!("building the HTTP client: {e}"),
        })
    }

    /// A new async-openai client with its own pool.
    pub(crate) fn client(&self) -> Result<Client<OpenAIConfig>, ClientError> {
        let config = OpenAIConfig::new()
            .with_api_base(&self.base_url)
            .with_api_key("bench-key");
        Ok(Client::with_config(config).with_http_client(self.http()?))
    }
}

/// One way of calling the server.
pub(crate) enum Subject {
    /// One `async_openai::Client` shared by every request: the baseline.
    RawShared(Client<OpenAIConfig>),
    /// A new `async_openai::Client` for every request.
    RawPerRequest(Endpoint),
    /// The generated client, three pass-through hooks of each kind, around
    /// one shared `async_openai::Client`.
    Hooked(Box<Hooked<Client<OpenAIConfig>>>),
}

impl Subject {
    /// The subject's name in the report.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Subject::RawShared(_) => "raw client, shared",
            Subject::RawPerRequest(_) => "raw client, new per request",
            Subject::Hooked(_) => "generated client, 3 hooks of each kind",
        }
    }

    /// Makes one call; returns the chunks received (1 for a JSON reply).
    pub(crate) async fn call(&self, req: ChatRequest, stream: bool) -> Result<u64, ClientError> {
        match self {
            Subject::RawShared(c) => drive(c, req, stream).await,
            Subject::RawPerRequest(endpoint) => drive(&endpoint.client()?, req, stream).await,
            Subject::Hooked(c) => drive(c.as_ref(), req, stream).await,
        }
    }
}

async fn drive(
    client: &impl ChatClient,
    req: ChatRequest,
    stream: bool,
) -> Result<u64, ClientError> {
    if !stream {
        client.create(req).await?;
        return Ok(1);
    }
    let mut chunks = client.create_stream(req).await?;
    let mut n = 0;
    while let Some(chunk) = chunks.next().await {
        chunk?;
        n += 1;
    }
    Ok(n)
}
