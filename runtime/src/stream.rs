//! Streams of chunks: the checked upstream and the hooked stream.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;

use crate::error::{ApiError, ClientError};
use crate::hooks::{ChunkAction, FailurePolicy, HookContext, HookError, OnChunk, Stage};
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

/// A chain of chunk hooks, run in order on each chunk.
///
/// Built by generated code from [`Link`]s ending in `()`; public only for
/// that code.
#[doc(hidden)]
pub trait ChunkChain: Send {
    /// Runs every hook on `chunk` until one drops it or fails.
    fn on_chunk(
        &mut self,
        chunk: &mut ChatChunk,
        cx: &HookContext,
    ) -> Result<ChunkAction, HookError>;
    /// Flushes every hook in order; what hook `i` flushes goes through hooks
    /// after `i` before it is queued in `out`.
    fn on_end(&mut self, cx: &HookContext, out: &mut VecDeque<ChatChunk>) -> Result<(), HookError>;
}

impl ChunkChain for () {
    fn on_chunk(&mut self, _: &mut ChatChunk, _: &HookContext) -> Result<ChunkAction, HookError> {
        Ok(ChunkAction::Pass)
    }
    fn on_end(&mut self, _: &HookContext, _: &mut VecDeque<ChatChunk>) -> Result<(), HookError> {
        Ok(())
    }
}

/// One chunk hook in a [`ChunkChain`], with its per-stream state.
///
/// Holds the hook by value: generated code passes `&field` (a hook through
/// the `&H` impl) or a per-stream adapter around a method hook, which only
/// the chain can own.
#[doc(hidden)]
pub struct Link<H: OnChunk, N> {
    hook: H,
    state: H::State,
    name: &'static str,
    policy: FailurePolicy,
    /// Set when a fail-open hook failed: it sits out the rest of the stream.
    benched: bool,
    next: N,
}

impl<H: OnChunk, N: ChunkChain> Link<H, N> {
    /// A link running `hook` (named `name` in errors) before `next`.
    pub fn new(hook: H, name: &'static str, policy: FailurePolicy, next: N) -> Self {
        Self {
            hook,
            state: H::State::default(),
            name,
            policy,
            benched: false,
            next,
        }
    }

    /// Applies the failure policy to a hook's result.
    fn settle<T>(
        &mut self,
        r: std::thread::Result<Result<T, HookError>>,
        stage: Stage,
    ) -> Result<Option<T>, HookError> {
        match crate::private::outcome(r, self.name, stage, self.policy) {
            Ok(Some(v)) => Ok(Some(v)),
            Ok(None) => {
                self.benched = true;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

impl<H: OnChunk, N: ChunkChain> ChunkChain for Link<H, N> {
    fn on_chunk(
        &mut self,
        chunk: &mut ChatChunk,
        cx: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        if !self.benched {
            let (hook, state) = (&self.hook, &mut self.state);
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| hook.on_chunk(chunk, state, cx)));
            if let Some(ChunkAction::Drop) = self.settle(r, Stage::Chunk)? {
                return Ok(ChunkAction::Drop);
            }
        }
        self.next.on_chunk(chunk, cx)
    }

    fn on_end(&mut self, cx: &HookContext, out: &mut VecDeque<ChatChunk>) -> Result<(), HookError> {
        if !self.benched {
            let (hook, state) = (&self.hook, &mut self.state);
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| hook.on_end(state, cx)));
            if let Some(Some(mut flushed)) = self.settle(r, Stage::StreamEnd)?
                && self.next.on_chunk(&mut flushed, cx)? == ChunkAction::Pass
            {
                out.push_back(flushed);
            }
        }
        self.next.on_end(cx, out)
    }
}

/// A chunk hook written as a method of the client struct:
/// `fn count(&self, chunk: &mut ChatChunk, cx: &HookContext) -> Result<ChunkAction, HookError>`.
#[doc(hidden)]
pub type ChunkMethod<S> = fn(&S, &mut ChatChunk, &HookContext) -> Result<ChunkAction, HookError>;

/// Adapts a [`ChunkMethod`] to [`OnChunk`] (stateless: state lives in the
/// struct, behind `&self`).
#[doc(hidden)]
pub struct MethodChunk<'a, S> {
    this: &'a S,
    method: ChunkMethod<S>,
}

impl<'a, S> MethodChunk<'a, S> {
    /// Binds `method` to `this`.
    pub fn new(this: &'a S, method: ChunkMethod<S>) -> Self {
        Self { this, method }
    }
}

impl<S: Sync> OnChunk for MethodChunk<'_, S> {
    type State = ();
    fn on_chunk(
        &self,
        chunk: &mut ChatChunk,
        _: &mut (),
        cx: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        (self.method)(self.this, chunk, cx)
    }
}

/// Runs `chain` on every chunk of `upstream` before the caller sees it.
#[doc(hidden)]
pub fn hooked<'a, K: ChunkChain + 'a>(
    upstream: ChatStream<'a>,
    chain: K,
    mut cx: HookContext,
) -> ChatStream<'a> {
    cx.set_stage(Stage::Chunk);
    Box::pin(Hooked {
        upstream: Some(upstream),
        chain: Box::new(chain),
        cx,
        flushed: VecDeque::new(),
        after: None,
        ended: false,
    })
}

struct Hooked<'a, K> {
    /// Dropped (releasing the connection) as soon as the stream ends or a
    /// hook stops it.
    upstream: Option<ChatStream<'a>>,
    /// Boxed so the stream is `Unpin` whatever the hooks' states are.
    chain: Box<K>,
    cx: HookContext,
    /// Chunks flushed by `on_end`, emitted before the stream finishes.
    flushed: VecDeque<ChatChunk>,
    /// The error that ends the stream after `flushed` (a truncated stream).
    after: Option<ClientError>,
    ended: bool,
}

impl<K> Hooked<'_, K> {
    fn stop(&mut self, err: ClientError) -> Poll<Option<Result<ChatChunk, ClientError>>> {
        self.upstream = None;
        self.flushed.clear();
        self.ended = true;
        Poll::Ready(Some(Err(err)))
    }
}

impl<K: ChunkChain> Stream for Hooked<'_, K> {
    type Item = Result<ChatChunk, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // `Hooked` holds only `Unpin` parts: the upstream and chain are boxed.
        let this = &mut *self;
        loop {
            if let Some(chunk) = this.flushed.pop_front() {
                return Poll::Ready(Some(Ok(chunk)));
            }
            if this.ended {
                return Poll::Ready(this.after.take().map(Err));
            }
            let Some(upstream) = this.upstream.as_mut() else {
                return Poll::Ready(None);
            };
            match upstream.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(mut chunk))) => match this.chain.on_chunk(&mut chunk, &this.cx)
                {
                    Ok(ChunkAction::Pass) => return Poll::Ready(Some(Ok(chunk))),
                    Ok(ChunkAction::Drop) => continue,
                    Err(e) => return this.stop(e.into()),
                },
                // A stream that ended with no finish reason: its text is
                // over, so what hooks hold is judged as its end and
                // released (a match in it trips, and is recorded, but the
                // stream still ends with `Truncated`), then the error.
                Poll::Ready(Some(Err(e @ ClientError::Truncated { .. }))) => {
                    this.upstream = None;
                    this.cx.set_stage(Stage::StreamEnd);
                    if this.chain.on_end(&this.cx, &mut this.flushed).is_err() {
                        return this.stop(e);
                    }
                    this.after = Some(e);
                    this.ended = true;
                }
                // Held-back text is not flushed after any other upstream
                // error (a connection cut, an error event): it was never
                // checked to the end.
                Poll::Ready(Some(Err(e))) => return this.stop(e),
                Poll::Ready(None) => {
                    this.upstream = None;
                    this.cx.set_stage(Stage::StreamEnd);
                    if let Err(e) = this.chain.on_end(&this.cx, &mut this.flushed) {
                        return this.stop(e.into());
                    }
                    this.ended = true;
                }
            }
        }
    }
}
