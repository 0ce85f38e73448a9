//! The three client paths, running one call under the outer limit, and
//! what a call ended in.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::guardrails::{Keywords, Pii, SecretKeys, UrlFilter};
use openai_hooks::middleware::Timeout;
use openai_hooks::model::{Fixed, Message, ModelError, OpenAIModel, StreamEvent};
use openai_hooks::transport::{RetryPolicy, Transport};
use openai_hooks::{ChatClient, ChatRequest, ClientError, DynChatClient, openai_client};
use serde_json::json;

/// The outer limit on one call; past it the case is a hang.
pub(crate) const CASE_LIMIT: Duration = Duration::from_secs(20);
/// `Timeout::response`: the complete reply of `create`, a stream's opening.
const RESPONSE_LIMIT: Duration = Duration::from_secs(2);
/// `Timeout::idle`: silence in a stream.
const IDLE_LIMIT: Duration = Duration::from_secs(2);

#[openai_client]
struct Scanned<C> {
    #[inner]
    client: C,
    #[on_chunk]
    #[post_response]
    keywords: Keywords,
    #[on_chunk]
    #[post_response]
    pii: Pii,
    #[on_chunk]
    #[post_response]
    secrets: SecretKeys,
    #[on_chunk]
    #[post_response]
    urls: UrlFilter,
}

type Plain = Timeout<Client<OpenAIConfig>>;

/// Every client, built once for all cases.
pub(crate) struct Clients {
    plain: Arc<Plain>,
    scanned: Scanned<Plain>,
    model_stream: OpenAIModel<Fixed<Plain>>,
    model_create: OpenAIModel<Fixed<Plain>>,
}

fn plain(base_url: &str) -> Plain {
    let transport = Transport::builder()
        .retry(
            RetryPolicy::default()
                .max_retries(2)
                .initial_backoff(Duration::from_millis(1))
                .max_backoff(Duration::from_millis(4))
                .max_retry_after(Duration::from_millis(50)),
        )
        .build()
        .unwrap();
    let config = OpenAIConfig::new()
        .with_api_base(base_url)
        .with_api_key("test-key");
    Timeout::new(transport.client(config))
        .response(RESPONSE_LIMIT)
        .idle(IDLE_LIMIT)
}

impl Clients {
    pub(crate) fn new(base_url: &str) -> Self {
        let plain_client = Arc::new(plain(base_url));
        Self {
            scanned: Scanned {
                client: plain(base_url),
                keywords: Keywords::new(["project falcon", "internal-only"]).unwrap(),
                pii: Pii::new(),
                secrets: SecretKeys::new(),
                urls: UrlFilter::new(["example.com"]).unwrap(),
            },
            model_stream: OpenAIModel::builder("m")
                .shared_client(plain_client.clone())
                .build()
                .unwrap(),
            model_create: OpenAIModel::builder("m")
                .stream(false)
                .shared_client(plain_client.clone())
                .build()
                .unwrap(),
            plain: plain_client,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Path {
    ACreate,
    AStream,
    BCreate,
    BStream,
    CStream,
    CCreate,
}

pub(crate) const PATHS: [Path; 6] = [
    Path::ACreate,
    Path::AStream,
    Path::BCreate,
    Path::BStream,
    Path::CStream,
    Path::CCreate,
];

pub(crate) const STREAMS: [Path; 3] = [Path::AStream, Path::BStream, Path::CStream];

impl Path {
    pub(crate) fn streams(self) -> bool {
        matches!(self, Path::AStream | Path::BStream | Path::CStream)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Path::ACreate => "a:create",
            Path::AStream => "a:stream",
            Path::BCreate => "b:create",
            Path::BStream => "b:stream",
            Path::CStream => "c:stream",
            Path::CCreate => "c:create",
        }
    }
}

#[derive(Debug)]
pub(crate) enum Outcome {
    /// A value (for streams, how many chunks or events).
    Ok(usize),
    /// A typed error, by kind.
    Error(String),
    /// A result that breaks the contract (a stream that ended silently,
    /// an item after an error).
    Bad(String),
    Panic(String),
    Hang,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Ok(items) => write!(f, "ok ({items} items)"),
            Outcome::Error(kind) => write!(f, "{kind}"),
            Outcome::Bad(what) => write!(f, "bad: {what}"),
            Outcome::Panic(message) => write!(f, "panic: {message}"),
            Outcome::Hang => write!(f, "hang"),
        }
    }
}

fn client_kind(e: &ClientError) -> String {
    match e {
        ClientError::Api(api) => format!(
            "Api({})",
            api.status.map_or("stream".into(), |s| s.to_string())
        ),
        ClientError::Hook(h) if h.is_tripwire() => "Hook(tripwire)".into(),
        ClientError::Hook(_) => "Hook(failed)".into(),
        ClientError::Transport { .. } => "Transport".into(),
        ClientError::Decode { what, .. } => format!("Decode({what})"),
        ClientError::Stream(_) => "Stream".into(),
        ClientError::Truncated { .. } => "Truncated".into(),
        ClientError::EmptyStream => "EmptyStream".into(),
        ClientError::Timeout { what, .. } => format!("Timeout({what})"),
        ClientError::InvalidRequest(_) => "InvalidRequest".into(),
        ClientError::LimitExceeded { what, .. } => format!("LimitExceeded({what})"),
        _ => "ClientError(other)".into(),
    }
}

fn model_kind(e: &ModelError) -> String {
    match e {
        ModelError::ContextWindowOverflow(_) => "Model:ContextWindowOverflow".into(),
        ModelError::Throttled(_) => "Model:Throttled".into(),
        ModelError::Hook(_) => "Model:Hook".into(),
        ModelError::Client(c) => format!("Model:{}", client_kind(c)),
        ModelError::InvalidRequest(_) => "Model:InvalidRequest".into(),
        ModelError::Config(_) => "Model:Config".into(),
        ModelError::StructuredOutput { .. } => "Model:StructuredOutput".into(),
        _ => "ModelError(other)".into(),
    }
}

pub(crate) fn request() -> ChatRequest {
    serde_json::from_value(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .unwrap()
}

async fn create(client: &dyn DynChatClient) -> Outcome {
    match client.create(request()).await {
        Ok(reply) => Outcome::Ok(reply.choices.len()),
        Err(e) => Outcome::Error(client_kind(&e)),
    }
}

/// Drains a stream keeping only a count; a stream must end with an error
/// or after at least one chunk, and nothing may follow an error.
async fn drain(client: &dyn DynChatClient) -> Outcome {
    let mut stream = match client.create_stream(request()).await {
        Ok(s) => s,
        Err(e) => return Outcome::Error(client_kind(&e)),
    };
    let mut chunks = 0;
    while let Some(item) = stream.next().await {
        match item {
            Ok(_) => chunks += 1,
            Err(e) => {
                if stream.next().await.is_some() {
                    return Outcome::Bad(format!("an item followed {e:?}"));
                }
                return Outcome::Error(client_kind(&e));
            }
        }
    }
    if chunks == 0 {
        Outcome::Bad("the stream ended with no chunk and no error".into())
    } else {
        Outcome::Ok(chunks)
    }
}

/// Drains a model's events; an event stream that ends without an error
/// must have ended the message.
async fn model_events(model: &OpenAIModel<Fixed<Plain>>) -> Outcome {
    let messages = [Message::user("hi")];
    let mut events = std::pin::pin!(model.stream(&messages, &[], None, None));
    let mut count = 0;
    let mut stopped = false;
    while let Some(item) = events.next().await {
        match item {
            Ok(event) => {
                count += 1;
                stopped |= matches!(event, StreamEvent::MessageStop { .. });
            }
            Err(e) => {
                if events.next().await.is_some() {
                    return Outcome::Bad(format!("an event followed {e:?}"));
                }
                return Outcome::Error(model_kind(&e));
            }
        }
    }
    if stopped {
        Outcome::Ok(count)
    } else {
        Outcome::Bad(format!("{count} events and no MessageStop, no error"))
    }
}

async fn call(clients: Arc<Clients>, path: Path) -> Outcome {
    match path {
        Path::ACreate => create(clients.plain.as_ref()).await,
        Path::AStream => drain(clients.plain.as_ref()).await,
        Path::BCreate => create(&clients.scanned).await,
        Path::BStream => drain(&clients.scanned).await,
        Path::CStream => model_events(&clients.model_stream).await,
        Path::CCreate => model_events(&clients.model_create).await,
    }
}

/// Panic messages (with their locations) seen by the hook below.
pub(crate) static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

pub(crate) fn record_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let trace = std::backtrace::Backtrace::force_capture().to_string();
            let mut seen = info.to_string().replace('\n', " ");
            if let Some(frame) = library_frame(&trace) {
                let _ = write!(seen, " [in {frame}]");
            }
            PANICS
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(seen);
            previous(info);
        }));
    });
}

/// The innermost frame of the library in a backtrace, with its location:
/// where a panic in a dependency was reached from.
fn library_frame(trace: &str) -> Option<String> {
    let mut lines = trace.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let name = line.split_once(": ").map_or(line, |(_, name)| name);
        if name.starts_with("openai_hooks::") || name.starts_with("<openai_hooks::") {
            let at = lines.next().unwrap_or_default();
            return Some(format!("{name} {at}"));
        }
    }
    None
}

/// Runs one call in its own task under [`CASE_LIMIT`].
pub(crate) async fn run(clients: Arc<Clients>, path: Path) -> Outcome {
    PANICS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
    let task = tokio::spawn(call(clients, path));
    let abort = task.abort_handle();
    match tokio::time::timeout(CASE_LIMIT, task).await {
        Err(_) => {
            abort.abort();
            Outcome::Hang
        }
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) if e.is_panic() => {
            let seen = PANICS
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .join(" | ");
            Outcome::Panic(if seen.is_empty() {
                format!("{e:?}")
            } else {
                seen
            })
        }
        Ok(Err(e)) => Outcome::Bad(format!("the task ended without a result: {e}")),
    }
}

/// `outcome`, or a panic when one happened anywhere during the call (in a
/// task the client spawned, say) even though the call itself ended.
pub(crate) fn with_hidden_panics(outcome: Outcome) -> Outcome {
    let seen = PANICS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .join(" | ");
    match outcome {
        Outcome::Panic(_) | Outcome::Hang => outcome,
        _ if !seen.is_empty() => Outcome::Panic(format!(
            "in another task, and the call ended as `{outcome}`: {seen}"
        )),
        _ => outcome,
    }
}
