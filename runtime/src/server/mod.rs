//! A local OpenAI-compatible server, for examples, tests and benchmarks that
//! must run with no API key and no network.
//!
//! It speaks `POST /v1/chat/completions` (JSON and SSE streaming, honouring
//! `stream_options.include_usage`), `POST /v1/responses` (the Responses API:
//! a `Response` object, or with `"stream": true` its typed events, each with
//! an `event:` line and a `sequence_number`) and `POST /v1/moderations`
//! (scripted [`ModerationReply`]s), and Azure OpenAI's chat routes
//! (`/openai/deployments/{deployment}/chat/completions?api-version=...`,
//! as async-openai's `AzureConfig` calls it, and `/openai/v1/chat/completions`;
//! both need an `api-key` header or a bearer token, the first an
//! `api-version`). Both model routes take their answers
//! from one queue of scripted [`Reply`]s, each rendered in the route's shape
//! (text in N chunks, reasoning, tool calls in argument fragments, refusals,
//! replies cut short, errors with `Retry-After`, recorded fixtures); the
//! server injects latency and faults, counts the TCP connections it
//! accepts, and logs every request it receives, to prove what left the
//! process.
//!
//! On `/v1/responses` a reply streams as `response.created`,
//! `response.in_progress`, then each output item (`output_item.added`, its
//! parts and deltas, their `.done` events, `output_item.done`), then the
//! terminal event: `response.completed`, or what
//! [`incomplete`](Reply::incomplete), [`failed`](Reply::failed),
//! [`stream_error`](Reply::stream_error) and
//! [`no_terminal_event`](Reply::no_terminal_event) ask for. The items are a
//! `reasoning` item (with [`reasoning_summary`](Reply::reasoning_summary)
//! and [`reasoning`](Reply::reasoning) text), then a `message`
//! (`output_text` or `refusal`) and `function_call`s (the
//! [`ToolCallSpec`] id as `call_id`). A body that is not JSON, has no
//! `model`, or whose `input` is neither a string nor an array gets
//! OpenAI's 400. It binds 127.0.0.1 on a free port, over plain
//! HTTP ([`LocalServer::start`]) or HTTPS with a certificate made at start
//! ([`LocalServer::start_tls`]).
//!
//! ```
//! use openai_hooks::server::{LocalServer, Reply};
//! use openai_hooks::{ChatClient, ChatRequest};
//! use openai_hooks::async_openai::{Client, config::OpenAIConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = LocalServer::start().await?;
//! server.push(Reply::text("Hello from the local server"));
//!
//! let client = Client::with_config(OpenAIConfig::new().with_api_base(server.base_url()));
//! let request: ChatRequest = serde_json::from_value(serde_json::json!({
//!     "model": "gpt-4o-mini",
//!     "messages": [{"role": "user", "content": "Hi"}],
//! }))?;
//! let reply = client.create(request).await?;
//!
//! assert_eq!(reply.content(), Some("Hello from the local server"));
//! assert_eq!(server.requests()[0].body["messages"][0]["content"], "Hi");
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod azure;
mod backend;
mod handler;
mod listener;
mod moderation;
mod reply;
mod responses;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustls::pki_types::PrivateKeyDer;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use backend::Backend;
use listener::{Conn, Counters, TrackedListener};
pub use moderation::ModerationReply;
pub use reply::{Fault, Reply, ToolCallSpec};

/// A request the server received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lower-cased (several values joined with `, `).
    pub headers: BTreeMap<String, String>,
    /// The body as JSON (`Null` when it was not JSON).
    pub body: Value,
    /// The body as text.
    pub raw: String,
    /// When it arrived.
    pub received_at: Instant,
}

/// State shared by the handle and the request handlers.
struct Shared {
    queue: Mutex<VecDeque<Reply>>,
    /// Scripted `POST /v1/moderations` replies.
    moderations: Mutex<VecDeque<ModerationReply>>,
    default: Mutex<Reply>,
    requests: Mutex<Vec<RecordedRequest>>,
    log_requests: AtomicBool,
    counters: Arc<Counters>,
    seq: AtomicU64,
    shutdown: watch::Receiver<bool>,
    /// Which bearer tokens the model routes accept; any (or none) when
    /// unset.
    bearer: Mutex<Option<BearerCheck>>,
}

/// A check of the bearer token a request carries.
type BearerCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Locks a mutex, recovering from a panic elsewhere: the data (a queue, a
/// log) stays consistent whatever a panicking holder was doing.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn next_reply(&self) -> Reply {
        lock(&self.queue)
            .pop_front()
            .unwrap_or_else(|| lock(&self.default).clone())
    }
}

/// The running server; see the [module docs](self). Dropping it stops it.
pub struct LocalServer {
    addr: SocketAddr,
    certificate_pem: Option<String>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LocalServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl LocalServer {
    /// Binds 127.0.0.1 on a free port and serves on the current tokio
    /// runtime. The default reply echoes the last user message in 8 chunks.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(None).await
    }

    /// Like [`start`](Self::start), over HTTPS: a self-signed certificate
    /// for `127.0.0.1` and `localhost` is made at start (a fresh key each
    /// time). Clients must trust [`certificate_pem`](Self::certificate_pem)
    /// explicitly, e.g. with
    /// [`TransportBuilder::add_root_certificate_pem`](crate::transport::TransportBuilder::add_root_certificate_pem)
    /// or reqwest's `tls_certs_only`.
    ///
    /// ```
    /// use openai_hooks::server::LocalServer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = LocalServer::start_tls().await?;
    /// assert!(server.base_url().starts_with("https://127.0.0.1:"));
    /// assert!(server.certificate_pem().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    /// # Ok(()) }
    /// ```
    pub async fn start_tls() -> std::io::Result<Self> {
        let (acceptor, pem) = tls_acceptor()?;
        Self::start_with(Some((acceptor, pem))).await
    }

    async fn start_with(tls: Option<(TlsAcceptor, String)>) -> std::io::Result<Self> {
        let (acceptor, certificate_pem) = tls.unzip();
        let tcp = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = tcp.local_addr()?;
        let (stop, shutdown) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            moderations: Mutex::new(VecDeque::new()),
            default: Mutex::new(Reply::echo().chunks(8)),
            requests: Mutex::new(Vec::new()),
            log_requests: AtomicBool::new(true),
            counters: counters.clone(),
            seq: AtomicU64::new(1),
            shutdown: shutdown.clone(),
            bearer: Mutex::new(None),
        });
        let app = handler::router(shared.clone());
        let listener = TrackedListener::spawn(tcp, counters, acceptor);
        let mut signal = shutdown;
        let serve = axum::serve(listener, app.into_make_service_with_connect_info::<Conn>())
            .with_graceful_shutdown(async move {
                let _ = signal.wait_for(|stopped| *stopped).await;
            });
        let task = tokio::spawn(async move {
            // Accept errors are retried inside the listener; serve only
            // returns at shutdown.
            let _ = serve.await;
        });
        Ok(Self {
            addr,
            certificate_pem,
            shared,
            stop,
            task: Some(task),
        })
    }

    /// The base URL for clients: `http://127.0.0.1:PORT/v1`, or `https://…`
    /// for a server started with [`start_tls`](Self::start_tls).
    pub fn base_url(&self) -> String {
        let scheme = if self.certificate_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}/v1", self.addr)
    }

    /// The server's certificate (PEM) when it speaks HTTPS.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificate_pem.as_deref()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues `reply` for the next request (first in, first out).
    pub fn push(&self, reply: Reply) {
        lock(&self.shared.queue).push_back(reply);
    }

    /// Queues `reply` for the next `POST /v1/moderations` (first in, first
    /// out; with none queued, every input is clean).
    pub fn push_moderation(&self, reply: ModerationReply) {
        lock(&self.shared.moderations).push_back(reply);
    }

    /// Accepts on the model routes only requests whose
    /// `Authorization: Bearer <token>` passes `check`; others get OpenAI's
    /// `401` (`invalid_api_key`) without taking a scripted reply. For
    /// testing credentials that expire and rotate.
    pub fn accept_bearer(&self, check: impl Fn(&str) -> bool + Send + Sync + 'static) {
        *lock(&self.shared.bearer) = Some(Arc::new(check));
    }

    /// The reply used when the queue is empty.
    pub fn set_default(&self, reply: Reply) {
        *lock(&self.shared.default) = reply;
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Whether to keep a log of the requests received (on by default).
    /// Long load runs turn it off so the log does not grow without bound;
    /// what is already logged is kept.
    pub fn set_request_log(&self, on: bool) {
        self.shared.log_requests.store(on, Ordering::Relaxed);
    }

    /// Every request received since the log was last emptied, oldest first,
    /// emptying it: a long run that drains it now and then keeps the
    /// server's memory flat.
    pub fn take_requests(&self) -> Vec<RecordedRequest> {
        std::mem::take(&mut *lock(&self.shared.requests))
    }

    /// TCP connections accepted so far.
    pub fn connections_accepted(&self) -> u64 {
        self.shared.counters.accepted.load(Ordering::SeqCst)
    }

    /// TCP connections open now.
    pub fn connections_open(&self) -> u64 {
        self.shared.counters.open.load(Ordering::SeqCst)
    }

    /// Waits until exactly `n` connections are open, for at most `limit`;
    /// returns whether that happened.
    pub async fn wait_for_connections_open(&self, n: u64, limit: Duration) -> bool {
        // A limit past what the clock counts means no limit.
        let deadline = Instant::now().checked_add(limit);
        loop {
            if self.connections_open() == n {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops accepting, ends stalled replies, and waits (at most 5 s) for
    /// open connections to finish before closing them.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A TLS acceptor with a fresh self-signed certificate, and that
/// certificate as PEM.
fn tls_acceptor() -> std::io::Result<(TlsAcceptor, String)> {
    let invalid = |e: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("TLS setup: {e}"))
    };
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).map_err(|e| invalid(&e))?;
    let pem = certified.cert.pem();
    let key = PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    // The provider is named rather than taken from the process default, so
    // an application that installs another one is not affected.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(&e))?
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .map_err(|e| invalid(&e))?;
    Ok((TlsAcceptor::from(Arc::new(config)), pem))
}
