//! [`Timeout`]: time limits on a [`ChatClient`], for the reply to start and
//! for any silence inside a stream.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::time::{Instant, Sleep};

use crate::client::{ChatClient, ChatStream, ClientError};
use crate::types::{ChatChunk, ChatRequest, ChatResponse};

/// A client with time limits: for the reply to start, and for any silence
/// inside a stream.
///
/// A whole-request timeout does not fit streams, which may rightly last
/// minutes. [`Timeout`] limits what matters instead: how long the server may
/// take to answer (the complete reply for `create`, the stream's opening for
/// `create_stream`), and how long a stream may go quiet between two chunks.
/// A limit that runs out ends the call with [`ClientError::Timeout`] and
/// drops the upstream, closing its connection.
///
/// ```
/// use std::time::Duration;
/// use openai_hooks::middleware::Timeout;
/// use openai_hooks::async_openai::{Client, config::OpenAIConfig};
///
/// let client = Timeout::new(Client::with_config(OpenAIConfig::new()))
///     .response(Duration::from_secs(60))
///     .idle(Duration::from_secs(15));
/// # drop(client);
/// ```
#[derive(Debug, Clone)]
pub struct Timeout<C> {
    inner: C,
    response: Option<Duration>,
    idle: Option<Duration>,
}

impl<C> Timeout<C> {
    /// Wraps `inner` with no limits yet.
    pub fn new(inner: C) -> Self {
        Self {
            inner,
            response: None,
            idle: None,
        }
    }

    /// Limit on the complete reply of `create`, and on the opening of a
    /// stream (its response headers).
    pub fn response(mut self, limit: Duration) -> Self {
        self.response = Some(limit);
        self
    }

    /// Limit on silence in a stream: before the first chunk and between two.
    pub fn idle(mut self, limit: Duration) -> Self {
        self.idle = Some(limit);
        self
    }

    /// The wrapped client.
    pub fn inner(&self) -> &C {
        &self.inner
    }
}

async fn limited<T>(
    limit: Option<Duration>,
    what: &'static str,
    fut: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    match limit {
        Some(after) => {
            tokio::time::timeout(after, fut)
                .await
                .unwrap_or(Err(ClientError::Timeout {
                    what,
                    after: Some(after),
                }))
        }
        None => fut.await,
    }
}

impl<C: ChatClient> ChatClient for Timeout<C> {
    fn create(
        &self,
        req: ChatRequest,
    ) -> impl Future<Output = Result<ChatResponse, ClientError>> + Send {
        limited(self.response, "response", self.inner.create(req))
    }

    async fn create_stream(&self, req: ChatRequest) -> Result<ChatStream<'_>, ClientError> {
        let upstream = limited(
            self.response,
            "response headers",
            self.inner.create_stream(req),
        )
        .await?;
        Ok(match self.idle {
            Some(limit) => Box::pin(Idle {
                upstream: Some(upstream),
                timer: Box::pin(tokio::time::sleep_until(deadline(limit))),
                limit,
            }),
            None => upstream,
        })
    }
}

/// Ends a stream that stays silent longer than `limit`.
struct Idle<'a> {
    /// Dropped (closing the connection) when the stream ends.
    upstream: Option<ChatStream<'a>>,
    timer: Pin<Box<Sleep>>,
    limit: Duration,
}

impl Stream for Idle<'_> {
    type Item = Result<ChatChunk, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(upstream) = this.upstream.as_mut() else {
            return Poll::Ready(None);
        };
        match upstream.as_mut().poll_next(cx) {
            Poll::Ready(Some(item)) => {
                this.timer.as_mut().reset(deadline(this.limit));
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                this.upstream = None;
                Poll::Ready(None)
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.upstream = None;
                    Poll::Ready(Some(Err(ClientError::Timeout {
                        what: "next chunk",
                        after: Some(this.limit),
                    })))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// `limit` from now; a limit past what the clock can count (a
/// `Duration::MAX` meaning "never") is about thirty years.
fn deadline(limit: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(limit)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}
