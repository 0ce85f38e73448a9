//! Pass-through hooks, three of each kind, around an inner client: what a
//! generated client costs when its hooks do (almost) nothing.
//!
//! Each hook does a little real work (a counter, a look at the text) so the
//! compiler cannot remove it, and nothing more, so what is measured is the
//! hook machinery: the context, the chain, the boundaries.

use std::sync::atomic::{AtomicU64, Ordering};

use openai_hooks::{
    ChatChunk, ChatRequest, ChatResponse, ChunkAction, HookContext, HookError, OnChunk,
    PostResponse, PreRequest, openai_client,
};

/// A hook of every kind that counts what it sees.
#[derive(Debug, Default)]
pub struct PassThrough {
    seen: AtomicU64,
}

impl PassThrough {
    /// How many requests, replies and chunks this hook has seen.
    pub fn seen(&self) -> u64 {
        self.seen.load(Ordering::Relaxed)
    }
}

impl PreRequest for PassThrough {
    async fn pre_request(
        &self,
        req: &mut ChatRequest,
        _: &mut HookContext,
    ) -> Result<(), HookError> {
        self.seen
            .fetch_add(req.messages.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

impl PostResponse for PassThrough {
    async fn post_response(
        &self,
        reply: &mut ChatResponse,
        _: &mut HookContext,
    ) -> Result<(), HookError> {
        self.seen.fetch_add(
            reply.content().map_or(0, |t| t.len() as u64),
            Ordering::Relaxed,
        );
        Ok(())
    }
}

impl OnChunk for PassThrough {
    type State = u64;

    fn on_chunk(
        &self,
        chunk: &mut ChatChunk,
        bytes: &mut u64,
        _: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        *bytes += chunk.content().map_or(0, |t| t.len() as u64);
        Ok(ChunkAction::Pass)
    }

    fn on_end(&self, bytes: &mut u64, _: &HookContext) -> Result<Option<ChatChunk>, HookError> {
        self.seen.fetch_add(*bytes, Ordering::Relaxed);
        Ok(None)
    }
}

/// Three pass-through hooks of each kind around `C`.
#[openai_client]
#[derive(Debug)]
pub struct Hooked<C> {
    #[inner]
    /// The client the hooks wrap.
    pub inner: C,
    #[pre_request]
    pre1: PassThrough,
    #[pre_request]
    pre2: PassThrough,
    #[pre_request]
    pre3: PassThrough,
    #[post_response]
    post1: PassThrough,
    #[post_response]
    post2: PassThrough,
    #[post_response]
    post3: PassThrough,
    #[on_chunk]
    chunk1: PassThrough,
    #[on_chunk]
    chunk2: PassThrough,
    #[on_chunk]
    chunk3: PassThrough,
}

impl<C> Hooked<C> {
    /// `inner` with nine pass-through hooks.
    pub fn new(inner: C) -> Self {
        Self {
            inner,
            pre1: PassThrough::default(),
            pre2: PassThrough::default(),
            pre3: PassThrough::default(),
            post1: PassThrough::default(),
            post2: PassThrough::default(),
            post3: PassThrough::default(),
            chunk1: PassThrough::default(),
            chunk2: PassThrough::default(),
            chunk3: PassThrough::default(),
        }
    }

    /// What the hooks saw in total (keeps their work observable).
    pub fn seen(&self) -> u64 {
        [
            &self.pre1,
            &self.pre2,
            &self.pre3,
            &self.post1,
            &self.post2,
            &self.post3,
            &self.chunk1,
            &self.chunk2,
            &self.chunk3,
        ]
        .iter()
        .map(|h| h.seen())
        .sum()
    }
}
