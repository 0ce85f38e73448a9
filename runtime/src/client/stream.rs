//! [`ChatStream`] and [`checked`]: the checks every upstream stream gets.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;

use super::error::{ApiError, ClientError};
use crate::limits::MAX_CHOICES;
use crate::types::ChatChunk;

/// A stream of chunks, borrowing the client that produced it.
///
/// Items arrive in the order the server sent them; the stream ends after the
/// first error. To hold a stream beyond the client's borrow (an axum SSE
/// body, a spawned task), keep the client in an `Arc` and move a clone into
/// the task that consumes the stream.
pub type ChatStream<'a> = Pin<Box<dyn Stream<Item = Result<ChatChunk, ClientError>> + Send + 'a>>;

/// Wraps a transport's raw chunk stream with the checks every stream gets:
/// an `error` object inside a chunk ends the stream with
/// [`ClientError::Api`] (after the chunk itself, so its usage is not lost);
/// an end with no chunk is [`ClientError::EmptyStream`]; an end before every
/// choice sent a `finish_reason` is [`ClientError::Truncated`]; a chunk
/// that brings the stream past [`MAX_CHOICES`] distinct choice indices
/// ends it with [`ClientError::LimitExceeded`] instead of that chunk.
pub fn checked(upstream: ChatStream<'_>) -> ChatStream<'_> {
    Box::pin(Checked {
        upstream: Some(upstream),
        chunks: 0,
        choices: Vec::new(),
        open: 0,
        pending: None,
    })
}

struct Checked<'a> {
    /// `None` once the stream has ended.
    upstream: Option<ChatStream<'a>>,
    chunks: u64,
    /// Each choice index seen, and whether it finished; at most
    /// [`MAX_CHOICES`], so a linear search is cheap (most streams have one
    /// choice, found at once with no hashing).
    choices: Vec<(u32, bool)>,
    /// How many of `choices` have not finished.
    open: usize,
    /// An error to yield after the chunk that carried it.
    pending: Option<ClientError>,
}

impl Checked<'_> {
    /// Notes the chunk's choices; an error if it brings the stream past
    /// [`MAX_CHOICES`] distinct choice indices (the stream ends there, so
    /// what was noted of that chunk no longer matters).
    fn track(&mut self, chunk: &ChatChunk) -> Result<(), ClientError> {
        self.chunks += 1;
        for choice in &chunk.choices {
            let finishing = choice.finish_reason.is_some();
            let full = self.choices.len() == MAX_CHOICES;
            match self.choices.iter_mut().find(|(i, _)| *i == choice.index) {
                Some((_, finished)) => {
                    if finishing && !*finished {
                        *finished = true;
                        self.open -= 1;
                    }
                }
                None if full => {
                    return Err(ClientError::LimitExceeded {
                        what: "choices per stream",
                        limit: MAX_CHOICES as u64,
                    });
                }
                None => {
                    self.choices.push((choice.index, finishing));
                    if !finishing {
                        self.open += 1;
                    }
                }
            }
        }
        Ok(())
    }

    fn end(&mut self) -> Option<ClientError> {
        if self.chunks == 0 {
            Some(ClientError::EmptyStream)
        } else if self.choices.is_empty() || self.open > 0 {
            Some(ClientError::Truncated {
                chunks: self.chunks,
            })
        } else {
            None
        }
    }
}

impl Stream for Checked<'_> {
    type Item = Result<ChatChunk, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(err) = this.pending.take() {
            this.upstream = None;
            return Poll::Ready(Some(Err(err)));
        }
        let Some(upstream) = this.upstream.as_mut() else {
            return Poll::Ready(None);
        };
        match upstream.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                if let Err(e) = this.track(&chunk) {
                    this.upstream = None;
                    return Poll::Ready(Some(Err(e)));
                }
                if let Some(wire) = &chunk.error {
                    let mut api = ApiError::from_wire(None, wire.clone());
                    // Whatever the transport, nothing key-shaped is kept.
                    api.message = crate::redact::scrub(&api.message, None);
                    this.pending = Some(ClientError::Api(api));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.upstream = None;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.upstream = None;
                Poll::Ready(this.end().map(Err))
            }
        }
    }
}
