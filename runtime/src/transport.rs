//! An HTTP transport for async-openai clients: a retry policy you choose,
//! `Retry-After` kept in the final error, and a limit on waiting for the
//! response headers. (Silence inside a stream is limited one level up, by
//! [`Timeout`](crate::timeout::Timeout), where the error can say so.)
//!
//! async-openai's default client retries `429` and `5xx` on its own terms and
//! drops the response headers before it reports an error, so a caller never
//! learns how long the server asked it to wait. [`Transport`] is a tower
//! service installed with `Client::with_http_service`: it executes requests
//! on one `reqwest::Client` (one connection pool), retries by a
//! [`RetryPolicy`], and hands a final error response to
//! [`ChatClient`](crate::ChatClient) with its status, body and `Retry-After`.
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

use std::task::{Context, Poll};
use std::time::Duration;

use async_openai::config::Config;
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use futures::future::BoxFuture;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Response, StatusCode};

use crate::error::ClientError;

/// When and how often a failed request is sent again.
///
/// Retried: `429` (unless the body says `insufficient_quota`, which waiting
/// does not fix), `500`, `502`, `503`, `504`, and connection failures before
/// any response. Those include a connection that failed *after* the request
/// was written and before any reply: the server may have started, and
/// billed, the work, and Chat Completions has no idempotency key. When a
/// duplicate costs more than a failure, turn that off with
/// [`resend_unanswered(false)`](Self::resend_unanswered): only failures to
/// connect (the request never left) are retried then. A server's `Retry-After` (seconds or an HTTP date) replaces
/// the computed backoff when it is not longer than
/// [`max_retry_after`](Self::max_retry_after); a longer one ends the retries
/// at once, so the caller can decide.
///
/// Defaults: 2 retries, backoff 500 ms doubling up to 8 s, `Retry-After`
/// honoured up to 60 s.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
    resend_unanswered: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            resend_unanswered: true,
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self::default().max_retries(0)
    }

    /// How many times a request may be sent again.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// The first backoff; it doubles with each retry.
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// The longest computed backoff.
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// The longest `Retry-After` waited for; longer ones end the retries.
    pub fn max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }

    /// Whether a request whose connection failed after it may have been
    /// sent, with no reply, is sent again (default `true`). Failures to
    /// connect are retried either way.
    pub fn resend_unanswered(mut self, yes: bool) -> Self {
        self.resend_unanswered = yes;
        self
    }

    /// How long to wait before retry number `attempt` (0-based), or `None`
    /// to stop.
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if attempt >= self.max_retries {
            return None;
        }
        match retry_after {
            Some(wait) if wait > self.max_retry_after => None,
            Some(wait) => Some(wait),
            None => {
                let factor = 2u32.saturating_pow(attempt);
                Some(
                    self.initial_backoff
                        .saturating_mul(factor)
                        .min(self.max_backoff),
                )
            }
        }
    }
}

/// Builds a [`Transport`].
#[derive(Debug, Default)]
pub struct TransportBuilder {
    retry: RetryPolicy,
    connect_timeout: Option<Duration>,
    first_byte_timeout: Option<Duration>,
    root_certificates: Vec<Vec<u8>>,
    http: Option<reqwest::Client>,
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
    /// self-signed one) in addition to the system's roots.
    pub fn add_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }

    /// Uses this `reqwest::Client` (and its pool) instead of building one;
    /// the time limits and certificates above are then ignored, except the
    /// first-byte limit, which the transport applies itself.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Builds the transport.
    pub fn build(self) -> Result<Transport, ClientError> {
        let http = match self.http {
            Some(http) => http,
            None => {
                let mut b = reqwest::Client::builder();
                if let Some(d) = self.connect_timeout {
                    b = b.connect_timeout(d);
                }
                for pem in &self.root_certificates {
                    let cert = reqwest::Certificate::from_pem(pem).map_err(|e| {
                        ClientError::InvalidRequest(format!("root certificate: {e}"))
                    })?;
                    b = b.tls_certs_merge([cert]);
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
        let mut attempt = 0;
        loop {
            let request = factory.build().await?;
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
                    let retryable = e.is_connect()
                        || self.retry.resend_unanswered && e.is_request() && !e.is_timeout();
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
                        body: response.text().await.unwrap_or_default(),
                    }))),
                    None => Ok(response),
                };
            }
            let retry_after = retry_after(response.headers());
            let body = response.text().await.unwrap_or_default();
            let retryable = matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
                && !body.contains("insufficient_quota");
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

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy::default().max_retries(5);
        assert_eq!(p.delay(0, None), Some(Duration::from_millis(500)));
        assert_eq!(p.delay(1, None), Some(Duration::from_secs(1)));
        assert_eq!(p.delay(4, None), Some(Duration::from_secs(8)));
        assert_eq!(p.delay(5, None), None);
    }

    #[test]
    fn retry_after_wins_within_its_cap() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
        assert_eq!(p.delay(0, Some(Duration::from_secs(61))), None);
        assert_eq!(RetryPolicy::none().delay(0, Some(Duration::ZERO)), None);
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(RETRY_AFTER, "0.5".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(500)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(
            retry_after(&h),
            Some(Duration::ZERO),
            "a past date means now"
        );
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
