//! A stream's response, read here rather than on async-openai's reader
//! task.
//!
//! async-openai reads an event stream on a task of its own and hands the
//! decoded chunks over through an unbounded channel: a server that sends
//! faster than the caller reads fills it without limit. When a stream goes
//! through a [`Transport`](super::Transport), the transport hands its
//! response to the caller instead ([`Handoff`]) and async-openai is given an
//! empty stream; the caller reads the events as it polls, so the server
//! waits on the caller (TCP flow control) and nothing piles up between
//! them.

use std::sync::{Arc, Mutex};

use async_openai::error::{OpenAIError, StreamError};
use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use reqwest::Response;

use serde::de::DeserializeOwned;

tokio::task_local! {
    static HANDOFF: Handoff;
}

/// Where a transport leaves the response of a stream started inside
/// [`Handoff::scope`].
#[derive(Clone, Default)]
pub(crate) struct Handoff(Arc<Mutex<Option<Response>>>);

impl Handoff {
    /// Runs `fut` (async-openai's call) with this handoff in reach of the
    /// transport.
    pub(crate) async fn scope<F: Future>(&self, fut: F) -> F::Output {
        HANDOFF.scope(self.clone(), fut).await
    }

    /// The response the transport left, if a transport served the call.
    pub(crate) fn take(&self) -> Option<Response> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// The handoff of the current call, when it is a stream whose caller
    /// waits for the response.
    pub(super) fn current() -> Option<Handoff> {
        HANDOFF.try_with(Handoff::clone).ok()
    }

    /// Leaves `response` for the caller.
    pub(super) fn put(&self, response: Response) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(response);
    }
}

/// What async-openai is given in place of a response handed off: a stream
/// with no events, which its reader ends at once.
pub(super) fn empty_stream() -> Response {
    let mut empty = http::Response::new(reqwest::Body::from(Bytes::new()));
    empty.headers_mut().insert(
        reqwest::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    Response::from(empty)
}

/// The items of an event stream (Chat chunks, Responses events), read as
/// they are polled, the way async-openai reads them: `[DONE]` ends the
/// stream, `keepalive` events are skipped, each other event's data is one
/// item, and nothing follows an error.
pub(crate) fn events<T: DeserializeOwned + Send + 'static>(
    response: Response,
) -> impl Stream<Item = Result<T, OpenAIError>> + Send + 'static {
    let events = response.bytes_stream().eventsource();
    futures::stream::unfold(Some(Box::pin(events)), |state| async move {
        let mut events = state?;
        loop {
            let event = match events.next().await? {
                Ok(event) => event,
                Err(e) => {
                    let e = StreamError::EventStream(e.to_string());
                    return Some((Err(OpenAIError::StreamError(Box::new(e))), None));
                }
            };
            if event.data == "[DONE]" {
                return None;
            }
            if event.event == "keepalive" {
                continue;
            }
            let item = serde_json::from_str::<T>(&event.data)
                .map_err(|e| OpenAIError::JSONDeserialize(e, event.data));
            return Some((item, Some(events)));
        }
    })
}
