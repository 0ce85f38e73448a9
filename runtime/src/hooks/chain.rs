//! Running chunk hooks: the chain of [`OnChunk`] hooks a generated client
//! builds for each stream, and the stream that runs it on every chunk.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;

use super::{ChunkAction, FailurePolicy, HookContext, HookError, OnChunk, Stage};
use crate::client::ClientError;

/// A chain of chunk hooks, run in order on each chunk.
///
/// Built by generated code from [`Link`]s ending in `()`; public only for
/// that code.
#[doc(hidden)]
pub trait ChunkChain<E>: Send {
    /// Runs every hook on `chunk` until one drops it or fails. What a hook
    /// releases ahead of it ([`OnChunk::release`]) goes through the hooks
    /// after that one and is queued in `before`.
    fn on_chunk(
        &mut self,
        chunk: &mut E,
        cx: &HookContext,
        before: &mut VecDeque<E>,
    ) -> Result<ChunkAction, HookError>;
    /// Flushes every hook in order; what hook `i` flushes goes through hooks
    /// after `i` before it is queued in `out`.
    fn on_end(&mut self, cx: &HookContext, out: &mut VecDeque<E>) -> Result<(), HookError>;
}

impl<E> ChunkChain<E> for () {
    fn on_chunk(
        &mut self,
        _: &mut E,
        _: &HookContext,
        _: &mut VecDeque<E>,
    ) -> Result<ChunkAction, HookError> {
        Ok(ChunkAction::Pass)
    }
    fn on_end(&mut self, _: &HookContext, _: &mut VecDeque<E>) -> Result<(), HookError> {
        Ok(())
    }
}

/// One chunk hook in a [`ChunkChain`], with its per-stream state.
///
/// Holds the hook by value: generated code passes `&field` (a hook through
/// the `&H` impl) or a per-stream adapter around a method hook, which only
/// the chain can own.
#[doc(hidden)]
pub struct Link<E, H: OnChunk<E>, N> {
    hook: H,
    state: H::State,
    name: &'static str,
    policy: FailurePolicy,
    /// Set when a fail-open hook failed: it sits out the rest of the stream.
    benched: bool,
    /// Set once what a benched hook held was taken ([`OnChunk::abandon`]).
    let_go: bool,
    next: N,
    event: PhantomData<fn(&mut E)>,
}

impl<E, H: OnChunk<E>, N: ChunkChain<E>> Link<E, H, N> {
    /// A link running `hook` (named `name` in errors) before `next`.
    pub fn new(hook: H, name: &'static str, policy: FailurePolicy, next: N) -> Self {
        Self {
            hook,
            state: H::State::default(),
            name,
            policy,
            benched: false,
            let_go: false,
            next,
            event: PhantomData,
        }
    }

    /// Applies the failure policy to a hook's result.
    fn settle<T>(
        &mut self,
        r: std::thread::Result<Result<T, HookError>>,
        stage: Stage,
    ) -> Result<Option<T>, HookError> {
        match super::run::outcome(r, self.name, stage, self.policy) {
            Ok(Some(v)) => Ok(Some(v)),
            Ok(None) => {
                self.benched = true;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

impl<E, H: OnChunk<E>, N: ChunkChain<E>> Link<E, H, N> {
    /// Once the hook is benched: takes what it still holds, through the
    /// hooks after it and into `out`. A panic there ends the taking.
    fn let_go(&mut self, cx: &HookContext, out: &mut VecDeque<E>) -> Result<(), HookError> {
        if !self.benched || self.let_go {
            return Ok(());
        }
        self.let_go = true;
        loop {
            let (hook, state) = (&self.hook, &mut self.state);
            let Ok(Some(mut item)) =
                std::panic::catch_unwind(AssertUnwindSafe(|| hook.abandon(state)))
            else {
                return Ok(());
            };
            if self.next.on_chunk(&mut item, cx, out)? == ChunkAction::Pass {
                out.push_back(item);
            }
        }
    }

    /// Takes what the hook releases, one item at a time, through the hooks
    /// after it and into `out`.
    fn drain(
        &mut self,
        cx: &HookContext,
        out: &mut VecDeque<E>,
        stage: Stage,
    ) -> Result<(), HookError> {
        while !self.benched {
            let (hook, state) = (&self.hook, &mut self.state);
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| Ok(hook.release(state))));
            let Some(Some(mut item)) = self.settle(r, stage)? else {
                break;
            };
            if self.next.on_chunk(&mut item, cx, out)? == ChunkAction::Pass {
                out.push_back(item);
            }
        }
        Ok(())
    }
}

impl<E, H: OnChunk<E>, N: ChunkChain<E>> ChunkChain<E> for Link<E, H, N> {
    fn on_chunk(
        &mut self,
        chunk: &mut E,
        cx: &HookContext,
        before: &mut VecDeque<E>,
    ) -> Result<ChunkAction, HookError> {
        if !self.benched {
            let (hook, state) = (&self.hook, &mut self.state);
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| hook.on_chunk(chunk, state, cx)));
            let action = self.settle(r, Stage::Chunk)?;
            // Known at compile time: most hooks release nothing, and their
            // chunks cost nothing more for it.
            if H::RELEASES {
                self.drain(cx, before, Stage::Chunk)?;
            }
            self.let_go(cx, before)?;
            if action == Some(ChunkAction::Drop) {
                return Ok(ChunkAction::Drop);
            }
        }
        self.next.on_chunk(chunk, cx, before)
    }

    fn on_end(&mut self, cx: &HookContext, out: &mut VecDeque<E>) -> Result<(), HookError> {
        if !self.benched {
            let (hook, state) = (&self.hook, &mut self.state);
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| hook.on_end(state, cx)));
            let flushed = self.settle(r, Stage::StreamEnd)?;
            self.drain(cx, out, Stage::StreamEnd)?;
            self.let_go(cx, out)?;
            if let Some(Some(mut flushed)) = flushed
                && self.next.on_chunk(&mut flushed, cx, out)? == ChunkAction::Pass
            {
                out.push_back(flushed);
            }
        }
        self.next.on_end(cx, out)
    }
}

/// A chunk hook written as a method of the client struct:
/// `fn count(&self, chunk: &mut ChatChunk, cx: &HookContext) -> Result<ChunkAction, HookError>`
/// (`&mut ResponseEvent` for the Responses API).
#[doc(hidden)]
pub type ChunkMethod<S, E = crate::types::ChatChunk> =
    fn(&S, &mut E, &HookContext) -> Result<ChunkAction, HookError>;

/// Adapts a [`ChunkMethod`] to [`OnChunk`] (stateless: state lives in the
/// struct, behind `&self`).
#[doc(hidden)]
pub struct MethodChunk<'a, S, E = crate::types::ChatChunk> {
    this: &'a S,
    method: ChunkMethod<S, E>,
}

impl<'a, S, E> MethodChunk<'a, S, E> {
    /// Binds `method` to `this`.
    pub fn new(this: &'a S, method: ChunkMethod<S, E>) -> Self {
        Self { this, method }
    }
}

impl<S: Sync, E> OnChunk<E> for MethodChunk<'_, S, E> {
    type State = ();
    fn on_chunk(
        &self,
        chunk: &mut E,
        _: &mut (),
        cx: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        (self.method)(self.this, chunk, cx)
    }
}

/// A stream of `E` (a [`ChatStream`](crate::ChatStream) or a
/// [`ResponseStream`](crate::ResponseStream)).
type Events<'a, E> = Pin<Box<dyn Stream<Item = Result<E, ClientError>> + Send + 'a>>;

/// Runs `chain` on every chunk of `upstream` before the caller sees it.
#[doc(hidden)]
pub fn hooked<'a, E: Send + 'a, K: ChunkChain<E> + 'a>(
    upstream: Events<'a, E>,
    chain: K,
    mut cx: HookContext,
) -> Events<'a, E> {
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

struct Hooked<'a, E, K> {
    /// Dropped (releasing the connection) as soon as the stream ends or a
    /// hook stops it.
    upstream: Option<Events<'a, E>>,
    /// Boxed so the stream is `Unpin` whatever the hooks' states are.
    chain: Box<K>,
    cx: HookContext,
    /// Chunks flushed by `on_end`, emitted before the stream finishes.
    flushed: VecDeque<E>,
    /// The error that ends the stream after `flushed` (a truncated stream).
    after: Option<ClientError>,
    ended: bool,
}

// Nothing in `Hooked` is pinned: the upstream and the chain are boxed, and
// the queued events are only moved out whole.
impl<E, K> Unpin for Hooked<'_, E, K> {}

impl<E, K> Hooked<'_, E, K> {
    fn stop(&mut self, err: ClientError) -> Poll<Option<Result<E, ClientError>>> {
        self.upstream = None;
        self.flushed.clear();
        self.ended = true;
        Poll::Ready(Some(Err(err)))
    }
}

impl<E, K: ChunkChain<E>> Stream for Hooked<'_, E, K> {
    type Item = Result<E, ClientError>;

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
                // What hooks release ahead of the chunk is queued before
                // it, and emitted first.
                Poll::Ready(Some(Ok(mut chunk))) => {
                    match this.chain.on_chunk(&mut chunk, &this.cx, &mut this.flushed) {
                        // The usual case: nothing released, no queue.
                        Ok(ChunkAction::Pass) if this.flushed.is_empty() => {
                            return Poll::Ready(Some(Ok(chunk)));
                        }
                        Ok(ChunkAction::Pass) => this.flushed.push_back(chunk),
                        Ok(ChunkAction::Drop) => {}
                        Err(e) => return this.stop(e.into()),
                    }
                }
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

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use futures::StreamExt;

    use super::{Link, hooked};
    use crate::client::ClientError;
    use crate::hooks::{ChunkAction, FailurePolicy, HookContext, HookError, OnChunk};

    /// Holds each item back and releases it ahead of the next; fails on
    /// `fail_at`.
    struct HoldOne {
        fail_at: u32,
    }

    impl OnChunk<u32> for HoldOne {
        type State = VecDeque<u32>;
        const RELEASES: bool = true;
        fn on_chunk(
            &self,
            chunk: &mut u32,
            held: &mut VecDeque<u32>,
            _: &HookContext,
        ) -> Result<ChunkAction, HookError> {
            if *chunk == self.fail_at {
                return Err(HookError::failed("broken"));
            }
            held.push_back(*chunk);
            Ok(ChunkAction::Drop)
        }
        fn release(&self, held: &mut VecDeque<u32>) -> Option<u32> {
            // One at a time, and only those before the newest.
            (held.len() > 1).then(|| held.pop_front()).flatten()
        }
        fn on_end(
            &self,
            held: &mut VecDeque<u32>,
            _: &HookContext,
        ) -> Result<Option<u32>, HookError> {
            Ok(held.pop_front())
        }
        fn abandon(&self, held: &mut VecDeque<u32>) -> Option<u32> {
            held.pop_front()
        }
    }

    async fn run(fail_at: u32, policy: FailurePolicy) -> Vec<Result<u32, String>> {
        let upstream = futures::stream::iter((1..=5).map(Ok::<u32, ClientError>)).boxed();
        let chain = Link::new(HoldOne { fail_at }, "hold", policy, ());
        hooked(upstream, chain, HookContext::new("m"))
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
            .await
    }

    #[tokio::test]
    async fn held_items_come_out_in_order() {
        let items = run(0, FailurePolicy::FailClosed).await;
        assert_eq!(items, [Ok(1), Ok(2), Ok(3), Ok(4), Ok(5)]);
    }

    #[tokio::test]
    async fn a_fail_open_hook_that_fails_lets_go_of_what_it_held() {
        // It held 2 when it failed on 3: sitting out, it drops nothing.
        let items = run(3, FailurePolicy::FailOpen).await;
        assert_eq!(items, [Ok(1), Ok(2), Ok(3), Ok(4), Ok(5)]);
    }
}
