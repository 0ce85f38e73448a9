//! What is measured: ways of calling the server, each one a subject.

use std::sync::LazyLock;

use futures::StreamExt;
use openai_hooks::async_openai::Client;
use openai_hooks::async_openai::config::OpenAIConfig;
use openai_hooks::model::{
    ClientArgs, ClientSource, Ephemeral, Factory, Fixed, Message, ModelError, OpenAIModel,
    PerRuntime, SystemPrompt,
};
use openai_hooks::transport::Transport;
use openai_hooks::{ChatClient, ChatRequest, ClientError};
use openai_hooks_bench::hooks::Hooked;

type Raw = Client<OpenAIConfig>;
type MakeClient = Box<dyn Fn() -> Result<Raw, ModelError> + Send + Sync>;

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

    /// An async-openai client on a [`Transport`] (retry table, bounded
    /// bodies and events, streams read as they are polled), with its own
    /// pool.
    pub(crate) fn transport_client(&self) -> Result<Raw, ClientError> {
        let config = OpenAIConfig::new()
            .with_api_base(&self.base_url)
            .with_api_key("bench-key");
        Ok(Transport::builder()
            .http_client(self.http()?)
            .build()?
            .client(config))
    }

    /// A new async-openai client with its own pool.
    pub(crate) fn client(&self) -> Result<Raw, ClientError> {
        let config = OpenAIConfig::new()
            .with_api_base(&self.base_url)
            .with_api_key("bench-key");
        // `Client::build`, not `with_config(..).with_http_client(..)`,
        // which would build a second reqwest client and throw it away.
        Ok(Client::build(self.http()?, config))
    }

    /// A function that makes a new client, for the per-runtime source.
    fn maker(&self) -> MakeClient {
        let endpoint = self.clone();
        Box::new(move || {
            endpoint
                .client()
                .map_err(|e| ModelError::Config(e.to_string()))
        })
    }

    /// A function that makes a new client on the shared TLS configuration
    /// (`ClientArgs::http_client_builder`, with `args`' roots), for the
    /// factory source: the same client as [`client`](Self::client) makes,
    /// without reading the root store each time.
    fn shared_tls_maker(&self, args: ClientArgs) -> MakeClient {
        let base_url = self.base_url.clone();
        Box::new(move || {
            let http = args
                .http_client_builder()?
                .build()
                .map_err(|e| ModelError::Config(format!("building the HTTP client: {e}")))?;
            let config = OpenAIConfig::new()
                .with_api_base(&base_url)
                .with_api_key("bench-key");
            Ok(Client::build(http, config))
        })
    }

    /// Client args for ephemeral clients: what the model builds per request.
    fn args(&self, pem: Option<&str>) -> ClientArgs {
        let mut args = ClientArgs::new()
            .base_url(&self.base_url)
            .api_key("bench-key");
        if let Some(pem) = pem {
            args = args.root_certificate_pem(pem.as_bytes().to_vec());
        }
        args
    }
}

/// The model with each client source, configured for one reply kind.
pub(crate) fn models(
    endpoint: &Endpoint,
    pem: Option<&str>,
    stream: bool,
) -> Result<Vec<Subject>, ModelError> {
    let model = || OpenAIModel::builder("gpt-4o-mini").stream(stream);
    let fixed = model()
        .client(
            endpoint
                .client()
                .map_err(|e| ModelError::Config(e.to_string()))?,
        )
        .build()?;
    let per_runtime = model().per_runtime(endpoint.maker()).build()?;
    let factory = model()
        .factory(endpoint.shared_tls_maker(endpoint.args(pem)))
        .build()?;
    let ephemeral = model().client_args(endpoint.args(pem)).build()?;
    Ok(vec![
        Subject::ModelFixed(Box::new(fixed)),
        Subject::ModelPerRuntime(Box::new(per_runtime)),
        Subject::ModelFactory(Box::new(factory)),
        Subject::ModelEphemeral(Box::new(ephemeral)),
    ])
}

/// One way of calling the server.
pub(crate) enum Subject {
    /// One `async_openai::Client` shared by every request: the baseline.
    RawShared(Client<OpenAIConfig>),
    /// One `async_openai::Client` on a `Transport`, shared.
    TransportShared(Client<OpenAIConfig>),
    /// A new `async_openai::Client` for every request.
    RawPerRequest(Endpoint),
    /// The generated client, three pass-through hooks of each kind, around
    /// one shared `async_openai::Client`.
    Hooked(Box<Hooked<Client<OpenAIConfig>>>),
    /// `OpenAIModel` with an injected client.
    ModelFixed(Box<OpenAIModel<Fixed<Raw>>>),
    /// `OpenAIModel` with a client per runtime.
    ModelPerRuntime(Box<OpenAIModel<PerRuntime<Raw, MakeClient>>>),
    /// `OpenAIModel` with a factory that makes a client per request on the
    /// shared TLS configuration.
    ModelFactory(Box<OpenAIModel<Factory<MakeClient>>>),
    /// `OpenAIModel` with its default: a client per request from args.
    ModelEphemeral(Box<OpenAIModel<Ephemeral>>),
}

/// The subjects' short names, for `--subjects`, in report order.
pub(crate) const KEYS: [&str; 8] = [
    "raw",
    "transport",
    "hooked",
    "fixed",
    "per-runtime",
    "factory",
    "ephemeral",
    "per-request",
];

impl Subject {
    /// The subject's short name on the command line.
    pub(crate) fn key(&self) -> &'static str {
        match self {
            Subject::RawShared(_) => "raw",
            Subject::TransportShared(_) => "transport",
            Subject::Hooked(_) => "hooked",
            Subject::ModelFixed(_) => "fixed",
            Subject::ModelPerRuntime(_) => "per-runtime",
            Subject::ModelFactory(_) => "factory",
            Subject::ModelEphemeral(_) => "ephemeral",
            Subject::RawPerRequest(_) => "per-request",
        }
    }

    /// The subject's name in the report.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Subject::RawShared(_) => "raw client, shared",
            Subject::TransportShared(_) => "raw client on a Transport, shared",
            Subject::RawPerRequest(_) => "raw client, new per request",
            Subject::Hooked(_) => "generated client, 3 hooks of each kind",
            Subject::ModelFixed(_) => "OpenAIModel, fixed (injected)",
            Subject::ModelPerRuntime(_) => "OpenAIModel, per-runtime",
            Subject::ModelFactory(_) => "OpenAIModel, factory (new client each call)",
            Subject::ModelEphemeral(_) => "OpenAIModel, ephemeral (default)",
        }
    }

    /// Makes one call; returns the chunks received (1 for a JSON reply).
    /// Raw subjects send a copy of `req` (a call takes its request by
    /// value); model subjects format the same conversation, held like a
    /// caller holds its messages.
    pub(crate) async fn call(&self, req: &ChatRequest, stream: bool) -> Result<u64, ClientError> {
        match self {
            Subject::RawShared(c) | Subject::TransportShared(c) => {
                drive(c, req.clone(), stream).await
            }
            Subject::RawPerRequest(endpoint) => {
                drive(&endpoint.client()?, req.clone(), stream).await
            }
            Subject::Hooked(c) => drive(c.as_ref(), req.clone(), stream).await,
            Subject::ModelFixed(m) => events(m).await,
            Subject::ModelPerRuntime(m) => events(m).await,
            Subject::ModelFactory(m) => events(m).await,
            Subject::ModelEphemeral(m) => events(m).await,
        }
    }
}

/// The conversation every subject sends: the model subjects format it per
/// call, the raw ones send the request it formats to.
pub(crate) fn conversation() -> ([Message; 1], SystemPrompt) {
    (
        [Message::user("Say something, at length.")],
        SystemPrompt::from("You are a load test."),
    )
}

/// The conversation, made once: a caller holds its messages across calls.
static CONVERSATION: LazyLock<([Message; 1], SystemPrompt)> = LazyLock::new(conversation);

/// One model call, drained; returns the events received. The model's own
/// config says whether it streams.
async fn events<S: ClientSource>(model: &OpenAIModel<S>) -> Result<u64, ClientError> {
    let (messages, system) = &*CONVERSATION;
    let mut events = std::pin::pin!(model.stream(messages, &[], Some(system), None));
    let mut n = 0;
    while let Some(event) = events.next().await {
        event.map_err(|e| match e {
            ModelError::Client(e) => e,
            other => ClientError::Stream(other.to_string()),
        })?;
        n += 1;
    }
    Ok(n)
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
