//! Bearer tokens that rotate: a [`TokenSource`] the transport asks for a
//! token, kept until shortly before it expires, so a client keeps its
//! connection pool while its credential changes (Entra ID for Azure OpenAI,
//! any OAuth token endpoint).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use crate::hooks::BoxError;

/// A bearer token, and when it stops being accepted.
#[derive(Clone)]
pub struct BearerToken {
    /// The token (kept secret: never in `Debug`, errors or logs).
    pub value: SecretString,
    /// When it expires; `None` for a token that does not.
    pub expires_at: Option<SystemTime>,
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerToken")
            .field("value", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl BearerToken {
    /// A token that expires `ttl` from now.
    pub fn expiring_in(value: impl Into<String>, ttl: Duration) -> Self {
        Self {
            value: SecretString::from(value.into()),
            expires_at: SystemTime::now().checked_add(ttl),
        }
    }
}

/// Where fresh bearer tokens come from. Implemented for any
/// `Fn() -> impl Future<Output = Result<BearerToken, BoxError>>`.
pub trait TokenSource: Send + Sync {
    /// A new token.
    fn token(&self) -> BoxFuture<'_, Result<BearerToken, BoxError>>;
}

impl<F, Fut> TokenSource for F
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<BearerToken, BoxError>> + Send + 'static,
{
    fn token(&self) -> BoxFuture<'_, Result<BearerToken, BoxError>> {
        Box::pin(self())
    }
}

/// The source of a token that failed, as a transport error's source: its
/// message says the token could not be had, never what the source said of
/// a credential.
#[derive(Debug)]
pub(crate) struct TokenFailed(pub(crate) String);

impl std::fmt::Display for TokenFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no bearer token: {}", self.0)
    }
}

impl std::error::Error for TokenFailed {}

/// The tokens one transport uses: the source, and the token in hand.
#[derive(Clone)]
pub(crate) struct Tokens {
    source: Arc<dyn TokenSource>,
    /// Refresh this long before the token expires.
    margin: Duration,
    /// One refresh at a time; every request waits for it.
    current: Arc<tokio::sync::Mutex<Option<BearerToken>>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("margin", &self.margin)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    pub(crate) fn new(source: Arc<dyn TokenSource>) -> Self {
        Self {
            source,
            margin: Duration::from_secs(60),
            current: Arc::default(),
        }
    }

    /// Refreshes `margin` before expiry.
    pub(crate) fn margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// The `Authorization` header for the next request: the token in hand,
    /// or a new one when there is none, it expires within the margin, or
    /// `stale` is the header the server just refused.
    pub(crate) async fn header(
        &self,
        stale: Option<&HeaderValue>,
    ) -> Result<HeaderValue, TokenFailed> {
        let mut current = self.current.lock().await;
        let in_hand = current.as_ref().filter(|t| {
            let live = t.expires_at.is_none_or(|at| {
                at.duration_since(SystemTime::now())
                    .is_ok_and(|left| left > self.margin)
            });
            let refused = stale.is_some_and(|s| header_of(t).is_ok_and(|h| h == *s));
            live && !refused
        });
        let token = match in_hand {
            Some(t) => t.clone(),
            None => {
                let t = self
                    .source
                    .token()
                    .await
                    .map_err(|e| TokenFailed(crate::redact::scrub(&e.to_string(), None)))?;
                *current = Some(t.clone());
                t
            }
        };
        header_of(&token)
    }
}

/// `Bearer <token>`, marked sensitive so no `Debug` prints it.
fn header_of(token: &BearerToken) -> Result<HeaderValue, TokenFailed> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", token.value.expose_secret()))
        .map_err(|_| TokenFailed("the token is not a valid header value".to_owned()))?;
    v.set_sensitive(true);
    Ok(v)
}
