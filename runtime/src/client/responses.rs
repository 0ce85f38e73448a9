//! The Responses API: [`ResponsesClient`], its object-safe twin, and
//! [`checked_events`], the checks every event stream gets.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use futures::future::BoxFuture;

use super::error::{ApiError, ClientError};
use crate::types::WireError;
use crate::types::responses::{Response, ResponseEvent, ResponsesRequest, failure};

/// A stream of Responses events, borrowing the client that produced it.
///
/// Items arrive in the order the server sent them; the stream ends after
/// the terminal event, or after the first error.
pub type ResponseStream<'a> =
    Pin<Box<dyn Stream<Item = Result<ResponseEvent, ClientError>> + Send + 'a>>;

/// Something that answers Responses API requests (`POST /v1/responses`):
/// async-openai's client, or your own.
///
/// Implemented for `async_openai::Client<C>` with any
/// [`Config`](async_openai::config::Config), for `&T`, `Arc<T>` and
/// `Box<T>`, and for `dyn DynResponsesClient`.
///
/// ```no_run
/// use openai_hooks::ResponsesClient;
/// use openai_hooks::async_openai::{Client, config::OpenAIConfig};
/// use openai_hooks::async_openai::types::responses::CreateResponseArgs;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = Client::with_config(OpenAIConfig::new().with_api_base("http://127.0.0.1:8080/v1"));
/// let request = CreateResponseArgs::default()
///     .model("gpt-4o-mini")
///     .input("Say hi")
///     .build()?;
/// let reply = client.create(request).await?;
/// println!("{}", reply.output_text());
/// # Ok(()) }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Responses API client",
    label = "this type does not implement `ResponsesClient`",
    note = "a Responses client is `async_openai::Client<_>`, `Arc<dyn DynResponsesClient>`, or a type of yours implementing `openai_hooks::ResponsesClient`"
)]
pub trait ResponsesClient: Send + Sync {
    /// Sends `req` and waits for the complete response (`stream` is sent
    /// unset). A response whose `status` is `failed` is
    /// [`ClientError::Api`].
    fn create(
        &self,
        req: ResponsesRequest,
    ) -> impl Future<Output = Result<Response, ClientError>> + Send;

    /// Sends `req` with `stream: true` and returns the events as they
    /// arrive, through [`checked_events`].
    fn create_stream(
        &self,
        req: ResponsesRequest,
    ) -> impl Future<Output = Result<ResponseStream<'_>, ClientError>> + Send;
}

macro_rules! forward_client {
    ($($ptr:ty),*) => {$(
        impl<T: ResponsesClient + ?Sized> ResponsesClient for $ptr {
            fn create(
                &self,
                req: ResponsesRequest,
            ) -> impl Future<Output = Result<Response, ClientError>> + Send {
                T::create(self, req)
            }
            fn create_stream(
                &self,
                req: ResponsesRequest,
            ) -> impl Future<Output = Result<ResponseStream<'_>, ClientError>> + Send {
                T::create_stream(self, req)
            }
        }
    )*};
}

forward_client!(&T, Arc<T>, Box<T>);

/// The object-safe twin of [`ResponsesClient`], for
/// `Arc<dyn DynResponsesClient>` when the client is chosen at run time.
/// Every `ResponsesClient` is one, and `dyn DynResponsesClient` is a
/// `ResponsesClient` again.
pub trait DynResponsesClient: Send + Sync {
    /// [`ResponsesClient::create`], boxed.
    fn create_dyn(&self, req: ResponsesRequest) -> BoxFuture<'_, Result<Response, ClientError>>;
    /// [`ResponsesClient::create_stream`], boxed.
    fn create_stream_dyn(
        &self,
        req: ResponsesRequest,
    ) -> BoxFuture<'_, Result<ResponseStream<'_>, ClientError>>;
}

impl<T: ResponsesClient> DynResponsesClient for T {
    fn create_dyn(&self, req: ResponsesRequest) -> BoxFuture<'_, Result<Response, ClientError>> {
        Box::pin(self.create(req))
    }
    fn create_stream_dyn(
        &self,
        req: ResponsesRequest,
    ) -> BoxFuture<'_, Result<ResponseStream<'_>, ClientError>> {
        Box::pin(self.create_stream(req))
    }
}

impl ResponsesClient for dyn DynResponsesClient + '_ {
    fn create(
        &self,
        req: ResponsesRequest,
    ) -> impl Future<Output = Result<Response, ClientError>> + Send {
        self.create_dyn(req)
    }
    fn create_stream(
        &self,
        req: ResponsesRequest,
    ) -> impl Future<Output = Result<ResponseStream<'_>, ClientError>> + Send {
        self.create_stream_dyn(req)
    }
}

/// `wire` as an API error, with anything key-shaped scrubbed from its
/// message.
fn scrubbed(wire: WireError) -> ApiError {
    let mut api = ApiError::from_wire(None, wire);
    api.message = crate::redact::scrub(&api.message, None);
    api
}

/// The error a failed response or an `error` event reports.
fn event_error(event: &ResponseEvent) -> Option<ApiError> {
    event.error().map(scrubbed)
}

/// A complete response that reports a failure, as an error.
pub(crate) fn failed(response: &Response) -> Option<ClientError> {
    use crate::types::responses::ResponseStatus;
    if response.status != Some(ResponseStatus::Failed) {
        return None;
    }
    Some(ClientError::Api(scrubbed(failure(Some(response)))))
}

/// Wraps a transport's raw event stream with the checks every Responses
/// stream gets:
///
/// - `keepalive` events are dropped;
/// - the stream ends after its terminal event (`response.completed` or
///   `response.incomplete`): anything a server sends after it is not read;
/// - `response.failed` and `error` are passed on, then the stream ends with
///   [`ClientError::Api`] (its message scrubbed of anything key-shaped);
/// - an end with no event (keepalives aside) is
///   [`ClientError::EmptyStream`]; an end before a terminal event is
///   [`ClientError::Truncated`] (`chunks` counts the events received).
pub fn checked_events(upstream: ResponseStream<'_>) -> ResponseStream<'_> {
    Box::pin(CheckedEvents {
        upstream: Some(upstream),
        events: 0,
        pending: None,
    })
}

struct CheckedEvents<'a> {
    /// `None` once the stream has ended.
    upstream: Option<ResponseStream<'a>>,
    events: u64,
    /// What ends the stream after the event that carried it.
    pending: Option<Option<ClientError>>,
}

impl Stream for CheckedEvents<'_> {
    type Item = Result<ResponseEvent, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(end) = this.pending.take() {
            this.upstream = None;
            return Poll::Ready(end.map(Err));
        }
        loop {
            let Some(upstream) = this.upstream.as_mut() else {
                return Poll::Ready(None);
            };
            return match upstream.as_mut().poll_next(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Some(Ok(event))) => {
                    if event.kind == "keepalive" {
                        continue;
                    }
                    this.events += 1;
                    if event.is_terminal() {
                        // Dropped now: nothing after the end is read.
                        this.upstream = None;
                        this.pending = Some(event_error(&event).map(ClientError::Api));
                    }
                    Poll::Ready(Some(Ok(event)))
                }
                Poll::Ready(Some(Err(e))) => {
                    this.upstream = None;
                    Poll::Ready(Some(Err(e)))
                }
                Poll::Ready(None) => {
                    this.upstream = None;
                    Poll::Ready(Some(Err(if this.events == 0 {
                        ClientError::EmptyStream
                    } else {
                        ClientError::Truncated {
                            chunks: this.events,
                        }
                    })))
                }
            };
        }
    }
}
