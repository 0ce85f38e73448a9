//! An HTTP transport for async-openai clients: a retry policy you choose,
//! `Retry-After` kept in the final error, and a limit on waiting for the
//! response headers. (Silence inside a stream is limited one level up, by
//! [`Timeout`](crate::middleware::Timeout), where the error can say so.)
//!
//! async-openai's default client retries `429` and `5xx` on its own terms and
//! drops the response headers before it reports an error, so a caller never
//! learns how long the server asked it to wait. [`Transport`] is a tower
//! service installed with `Client::with_http_service`: it executes requests
//! on one `reqwest::Client` (one connection pool), retries by a
//! [`RetryPolicy`], and hands a final error response to
//! [`ChatClient`](crate::ChatClient) with its status, body and `Retry-After`.
//!
//! It also bounds what a server can make the client read: a reply body
//! (streamed or not) to [`max_body_bytes`](TransportBuilder::max_body_bytes),
//! each server-sent event to
//! [`max_event_bytes`](TransportBuilder::max_event_bytes), an error body to
//! [`ERROR_BODY_BYTES`] read for at most
//! [`error_body_time`](TransportBuilder::error_body_time) (see
//! [`limits`](crate::limits)). async-openai's own HTTP client has none of
//! these bounds; use a transport when the server is not yours.
//!
//! ```
//! use std::time::Duration;
//! use openai_hooks::transport::{RetryPolicy, Transport};
//! use openai_hooks::async_openai::config::OpenAIConfig;
//!
//! let transport = Transport::builder()
//!     .retry(RetryPolicy::default().max_retries(3))
//!     .first_byte_timeout(Duration::from_secs(30))
//!     .build()
//!     .expect("TLS backend available");
//! let client = transport.client(OpenAIConfig::new().with_api_base("http://127.0.0.1:8080/v1"));
//! # drop(client);
//! ```

mod auth;
mod body;
mod events;
mod retry;
pub(crate) mod tls;

use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use async_openai::config::Config;
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use futures::future::BoxFuture;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Response, StatusCode};

pub use self::auth::{BearerToken, TokenSource};
pub(crate) use self::body::{BodyLimit, limit_of_event};
pub(crate) use self::events::{Handoff, events};
pub use self::retry::RetryPolicy;
use self::retry::retry_after;
use crate::client::ClientError;
use crate::limits::{
    DEFAULT_ERROR_BODY_TIME, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_EVENT_BYTES, ERROR_BODY_BYTES,
};

/// Builds a [`Transport`].
#[derive(Debug, Default)]
pub struct TransportBuilder {
    retry: RetryPolicy,
    connect_timeout: Option<Duration>,
    first_byte_timeout: Option<Duration>,
    root_certificates: Vec<Vec<u8>>,
    http: Option<reqwest::Client>,
    limits: Limits,
    idempotency_key: Option<HeaderName>,
    tokens: Option<auth::Tokens>,
    token_margin: Option<Duration>,
}

/// What the transport reads of a response at most.
#[derive(Debug, Clone, Copy)]
struct Limits {
    body: usize,
    event: usize,
    error_body_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body: DEFAULT_MAX_BODY_BYTES,
            event: DEFAULT_MAX_EVENT_BYTES,
            error_body_time: DEFAULT_ERROR_BODY_TIME,
        }
    }
}

impl TransportBuilder {
    /// The retry policy (default: [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Limit on opening a connection.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = Some(d);
        self
    }

    /// Limit on waiting for the response headers of each attempt.
    pub fn first_byte_timeout(mut self, d: Duration) -> Self {
        self.first_byte_timeout = Some(d);
        self
    }

    /// Trusts a PEM certificate (a private CA, or the local server's
    /// self-signed one) in addition to the roots a default reqwest client
    /// trusts (see [`ClientArgs`](crate::model::ClientArgs) for which).
    pub fn add_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }

    /// Limit on a reply body, streamed or not (default
    /// [`DEFAULT_MAX_BODY_BYTES`]); past it the call ends with
    /// [`ClientError::LimitExceeded`].
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.limits.body = n;
        self
    }

    /// Limit on one server-sent event of a stream (default
    /// [`DEFAULT_MAX_EVENT_BYTES`]); past it the stream ends with
    /// [`ClientError::LimitExceeded`], after the events before it.
    pub fn max_event_bytes(mut self, n: usize) -> Self {
        self.limits.event = n;
        self
    }

    /// Limit on reading an error response's body after its headers
    /// (default [`DEFAULT_ERROR_BODY_TIME`]); the error keeps what arrived
    /// in time. At most [`ERROR_BODY_BYTES`] of it are read.
    pub fn error_body_time(mut self, d: Duration) -> Self {
        self.limits.error_body_time = d;
        self
    }

    /// Sends a header named `name` (`Idempotency-Key` is the usual one)
    /// with a key made for each call and kept on every attempt of it, for
    /// servers and gateways that run a request once per key. See
    /// [`RetryPolicy`] for what is resent.
    pub fn idempotency_key(mut self, name: HeaderName) -> Self {
        self.idempotency_key = Some(name);
        self
    }

    /// Sends `Authorization: Bearer <token>` with a token from `source`,
    /// kept until a minute before it expires (see
    /// [`refresh_before`](Self::refresh_before)) and asked for anew then,
    /// or when the server refuses it with a `401` (one more attempt, with
    /// a new token). The token replaces the config's API key on every
    /// request; the connection pool stays. For Entra ID on Azure OpenAI,
    /// or any OAuth token endpoint.
    ///
    /// ```
    /// use std::time::Duration;
    /// use openai_hooks::transport::{BearerToken, Transport};
    ///
    /// let transport = Transport::builder()
    ///     .bearer_tokens(|| async {
    ///         // Ask your identity provider here.
    ///         Ok(BearerToken::expiring_in("token-from-entra-id", Duration::from_secs(3600)))
    ///     })
    ///     .build()?;
    /// # drop(transport);
    /// # Ok::<(), openai_hooks::ClientError>(())
    /// ```
    pub fn bearer_tokens(mut self, source: impl TokenSource + 'static) -> Self {
        self.tokens = Some(auth::Tokens::new(std::sync::Arc::new(source)));
        self
    }

    /// How long before a token expires it is replaced (default a minute).
    pub fn refresh_before(mut self, margin: Duration) -> Self {
        self.token_margin = Some(margin);
        self
    }

    /// Uses this `reqwest::Client` (and its pool) instead of building one;
    /// the time limits and certificates above are then ignored, except the
    /// first-byte limit, which the transport applies itself.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Builds the transport. Without [`http_client`](Self::http_client),
    /// on a new `reqwest::Client` (a pool of its own) that shares the
    /// process's TLS configuration (the system's roots are read once, not
    /// per transport; see [`ClientArgs`](crate::model::ClientArgs) for what
    /// is trusted).
    pub fn build(self) -> Result<Transport, ClientError> {
        let http = match self.http {
            Some(http) => http,
            None => {
                // The system-roots configuration is the process-wide one;
                // one with extra roots is built for this transport.
                let tls = tls::SharedTls::get(&OnceLock::new(), &self.root_certificates).map_err(
                    |e| match e {
                        tls::TlsError::Root { .. } => ClientError::InvalidRequest(e.to_string()),
                        tls::TlsError::Verifier(_) => ClientError::Transport {
                            message: format!("building the HTTP client: {e}"),
                        },
                    },
                )?;
                let mut b = tls.reqwest_builder();
                if let Some(d) = self.connect_timeout {
                    b = b.connect_timeout(d);
                }
                b.build().map_err(|e| ClientError::Transport {
                    message: format!("building the HTTP client: {e}"),
                })?
            }
        };
        Ok(Transport {
            http,
            retry: self.retry,
            first_byte_timeout: self.first_byte_timeout,
            limits: self.limits,
            idempotency_key: self.idempotency_key,
            tokens: self
                .tokens
                .map(|t| t.margin(self.token_margin.unwrap_or(Duration::from_secs(60)))),
        })
    }
}

/// A tower service that executes async-openai's requests; see the
/// [module docs](self).
#[derive(Debug, Clone)]
pub struct Transport {
    http: reqwest::Client,
    retry: RetryPolicy,
    first_byte_timeout: Option<Duration>,
    limits: Limits,
    idempotency_key: Option<HeaderName>,
    tokens: Option<auth::Tokens>,
}

impl Transport {
    /// Starts building a transport.
    pub fn builder() -> TransportBuilder {
        TransportBuilder::default()
    }

    /// An async-openai client for `config` that sends through this transport
    /// (and its connection pool). Clones share the pool.
    pub fn client<C: Config>(&self, config: C) -> async_openai::Client<C> {
        async_openai::Client::build(self.http.clone(), config).with_http_service(self.clone())
    }

    async fn send(self, factory: HttpRequestFactory) -> Result<Response, OpenAIError> {
        let key = self.idempotency_key.as_ref().map(|_| new_key());
        let mut attempt = 0;
        // With a token source: the token a 401 refused (a new one is asked
        // for, once), and the token the current attempt carries.
        let mut refused: Option<HeaderValue> = None;
        let mut sent_token: Option<HeaderValue> = None;
        loop {
            let mut request = factory.build().await?;
            if let (Some(name), Some(key)) = (&self.idempotency_key, &key) {
                request.headers_mut().insert(name.clone(), key.clone());
            }
            if let Some(tokens) = &self.tokens {
                let header = tokens
                    .header(refused.as_ref())
                    .await
                    .map_err(|e| OpenAIError::Boxed(Box::new(e)))?;
                sent_token = Some(header.clone());
                request
                    .headers_mut()
                    .insert(http::header::AUTHORIZATION, header);
            }
            let sent = self.http.execute(request);
            let result = match self.first_byte_timeout {
                Some(limit) => match tokio::time::timeout(limit, sent).await {
                    Ok(r) => r,
                    Err(_) => {
                        return Err(OpenAIError::Boxed(Box::new(TimedOut {
                            what: "response headers",
                            after: limit,
                        })));
                    }
                },
                None => sent.await,
            };
            let response = match result {
                Ok(r) => r,
                Err(e) => {
                    let retryable = self.retry.resends_failure(&e);
                    match self.retry.delay(attempt, None).filter(|_| retryable) {
                        Some(wait) => {
                            tracing::debug!(attempt, ?wait, error = %e.without_url(), "retrying after transport error");
                            tokio::time::sleep(wait).await;
                            attempt += 1;
                            continue;
                        }
                        None => return Err(OpenAIError::Reqwest(e)),
                    }
                }
            };
            let status = response.status();
            if status.is_success() {
                return match html(response.headers()) {
                    // A login page or a proxy's notice sent as `200`: no
                    // JSON or event stream will come. Said here, with the
                    // body, because async-openai's stream parser would read
                    // it as a stream with no events.
                    Some(content_type) => Err(OpenAIError::Boxed(Box::new(NotApi {
                        content_type,
                        body: self.error_body(response).await,
                    }))),
                    None => {
                        let handoff = Handoff::current();
                        let limited = body::limit(
                            response,
                            self.limits.body,
                            self.limits.event,
                            handoff.is_some(),
                        );
                        // A stream's caller reads the events itself, as it
                        // polls (see `events`).
                        match handoff {
                            Some(handoff) => {
                                handoff.put(limited);
                                Ok(events::empty_stream())
                            }
                            None => Ok(limited),
                        }
                    }
                };
            }
            // A token refused before its time (revoked, rotated early): one
            // more attempt with a new one.
            if status == http::StatusCode::UNAUTHORIZED && refused.is_none() && sent_token.is_some()
            {
                tracing::debug!("token refused; retrying once with a new one");
                refused = sent_token.take();
                continue;
            }
            let retry_after = retry_after(response.headers());
            let body = self.error_body(response).await;
            let retryable = self.retry.resends_status(status, &body);
            match self.retry.delay(attempt, retry_after).filter(|_| retryable) {
                Some(wait) => {
                    tracing::debug!(attempt, status = status.as_u16(), ?wait, "retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                None => {
                    return Err(OpenAIError::Boxed(Box::new(HttpFailure {
                        status,
                        retry_after,
                        body,
                    })));
                }
            }
        }
    }

    /// The start of a body that is not a reply, within the error limits.
    async fn error_body(&self, response: Response) -> String {
        body::read_capped(response, ERROR_BODY_BYTES, self.limits.error_body_time).await
    }
}

/// A key unique to one call: 128 bits from the process's random hasher
/// keys and a counter.
fn new_key() -> HeaderValue {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let state = std::collections::hash_map::RandomState::new();
    let half = |salt: u64| {
        let mut h = state.build_hasher();
        h.write_u64(n);
        h.write_u64(salt);
        h.finish()
    };
    let key = format!("{:016x}{:016x}", half(0), half(1));
    HeaderValue::from_str(&key).unwrap_or(HeaderValue::from_static("0"))
}

impl tower::Service<HttpRequestFactory> for Transport {
    type Response = Response;
    type Error = OpenAIError;
    type Future = BoxFuture<'static, Result<Response, OpenAIError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        Box::pin(self.clone().send(factory))
    }
}

/// The content type of an HTML body, which no OpenAI-compatible endpoint
/// sends on success.
fn html(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(reqwest::header::CONTENT_TYPE)?.to_str().ok()?;
    value
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("text/html")
        .then(|| value.to_owned())
}

/// A success status with a body that is not an API reply, carried through
/// async-openai to [`ClientError::Decode`] with a snippet.
#[derive(Debug)]
pub(crate) struct NotApi {
    pub(crate) content_type: String,
    pub(crate) body: String,
}

impl std::fmt::Display for NotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a `{}` body instead of an API reply", self.content_type)
    }
}

impl std::error::Error for NotApi {}

/// A final error response, carried through async-openai to
/// [`ClientError::Api`] with its status and `Retry-After`.
#[derive(Debug)]
pub(crate) struct HttpFailure {
    pub(crate) status: StatusCode,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) body: String,
}

impl std::fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}", self.status)
    }
}

impl std::error::Error for HttpFailure {}

/// A time limit of the transport ran out.
#[derive(Debug)]
pub(crate) struct TimedOut {
    pub(crate) what: &'static str,
    pub(crate) after: Duration,
}

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "timed out waiting for {} after {:?}",
            self.what, self.after
        )
    }
}

impl std::error::Error for TimedOut {}
