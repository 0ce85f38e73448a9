//! Streams that own their client: `'static`, for a handler that returns
//! the stream (an axum SSE body) or a task that outlives the borrow.

use std::sync::Arc;

use futures::{Stream, StreamExt};

use super::ChatClient;
use super::error::ClientError;
use super::responses::{ResponseStream, ResponsesClient};
use super::stream::ChatStream;
use crate::types::ChatRequest;
use crate::types::responses::ResponsesRequest;

/// `client`'s stream of chunks for `req`, holding the client: the same
/// chunks, errors and checks as [`ChatClient::create_stream`], but
/// `'static`. An error opening the stream is returned here; dropping the
/// stream drops the call (its connection closed, nothing more read).
///
/// ```
/// use std::sync::Arc;
/// use futures::StreamExt;
/// use openai_hooks::client::stream_owned;
/// use openai_hooks::server::{LocalServer, Reply};
/// use openai_hooks::async_openai::{Client, config::OpenAIConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = LocalServer::start().await?;
/// server.push(Reply::text("Hello").chunks(2));
/// let client = Arc::new(Client::with_config(OpenAIConfig::new().with_api_base(server.base_url())));
/// let request = serde_json::from_value(serde_json::json!({
///     "model": "gpt-4o-mini",
///     "messages": [{"role": "user", "content": "Hi"}],
/// }))?;
/// let stream = stream_owned(client, request).await?;
/// // `'static`: it can move into a task of its own.
/// let text = tokio::spawn(async move {
///     stream.map(|c| c.unwrap().content().unwrap_or_default().to_owned()).collect::<String>().await
/// })
/// .await?;
/// assert_eq!(text, "Hello");
/// # server.shutdown().await;
/// # Ok(()) }
/// ```
pub async fn stream_owned<C>(
    client: Arc<C>,
    req: ChatRequest,
) -> Result<ChatStream<'static>, ClientError>
where
    C: ChatClient + ?Sized + 'static,
{
    opened(async_stream::stream! {
        match client.create_stream(req).await {
            Err(e) => yield Step::Failed(e),
            Ok(mut chunks) => {
                yield Step::Opened;
                while let Some(item) = chunks.next().await {
                    yield Step::Item(item);
                }
            }
        }
    })
    .await
    .map(|items| -> ChatStream<'static> { Box::pin(items) })
}

/// [`stream_owned`] for the Responses API: `client`'s events for `req`,
/// holding the client.
pub async fn response_stream_owned<C>(
    client: Arc<C>,
    req: ResponsesRequest,
) -> Result<ResponseStream<'static>, ClientError>
where
    C: ResponsesClient + ?Sized + 'static,
{
    opened(async_stream::stream! {
        match client.create_stream(req).await {
            Err(e) => yield Step::Failed(e),
            Ok(mut events) => {
                yield Step::Opened;
                while let Some(item) = events.next().await {
                    yield Step::Item(item);
                }
            }
        }
    })
    .await
    .map(|items| -> ResponseStream<'static> { Box::pin(items) })
}

/// What the stream that holds the client yields: first whether the call
/// opened, then its items.
enum Step<T> {
    Failed(ClientError),
    Opened,
    Item(Result<T, ClientError>),
}

/// Runs `steps` until the call opens: its error, or the rest of its items.
async fn opened<T, S>(
    steps: S,
) -> Result<impl Stream<Item = Result<T, ClientError>> + Send + 'static, ClientError>
where
    T: Send + 'static,
    S: Stream<Item = Step<T>> + Send + 'static,
{
    let mut steps = Box::pin(steps);
    match steps.next().await {
        Some(Step::Opened) => Ok(steps.filter_map(|step| async move {
            match step {
                Step::Item(item) => Some(item),
                // Only the first step says whether the call opened.
                Step::Failed(_) | Step::Opened => None,
            }
        })),
        Some(Step::Failed(e)) => Err(e),
        Some(Step::Item(_)) | None => unreachable!("the first step says whether the call opened"),
    }
}
