//! How a pipeline holds a built guardrail: as an object-safe [`DynGuard`]
//! (boxed futures, boxed per-stream state), blanket-implemented for every
//! [`StageHooks`] guardrail, as [`DynChatClient`](crate::DynChatClient) is
//! for every [`ChatClient`](crate::ChatClient).

use std::fmt::Debug;

use futures::future::BoxFuture;

use crate::guardrails::Guardrail;
use crate::hooks::{ChunkAction, HookContext, HookError, OnChunk, PostResponse, PreRequest};
use crate::types::{ChatChunk, ChatRequest, ChatResponse};

/// The hooks of a guardrail a pipeline runs: on the request, on the reply
/// and, for a text guardrail, on each streamed chunk.
pub(crate) trait StageHooks:
    Guardrail + PreRequest + PostResponse + Debug + 'static
{
    /// Its chunk hook; [`NoChunks`] for a guardrail that judges a streamed
    /// reply whole, at its end.
    type Chunks: OnChunk;

    /// The chunk hook, when the guardrail checks chunks as they pass.
    fn chunks(&self) -> Option<&Self::Chunks>;
}

/// The chunk hook of a guardrail that has none.
pub(crate) enum NoChunks {}

impl OnChunk for NoChunks {
    type State = ();

    fn on_chunk(
        &self,
        _: &mut ChatChunk,
        _: &mut (),
        _: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        match *self {}
    }
}

/// The object-safe twin of [`StageHooks`]: what a pipeline entry holds.
pub(crate) trait DynGuard: Send + Sync + Debug {
    /// [`PreRequest::pre_request`], boxed.
    fn pre_request_dyn<'a>(
        &'a self,
        req: &'a mut ChatRequest,
        cx: &'a mut HookContext,
    ) -> BoxFuture<'a, Result<(), HookError>>;

    /// [`PostResponse::post_response`], boxed.
    fn post_response_dyn<'a>(
        &'a self,
        resp: &'a mut ChatResponse,
        cx: &'a mut HookContext,
    ) -> BoxFuture<'a, Result<(), HookError>>;

    /// Whether it checks streamed chunks as they pass (the text
    /// guardrails) rather than the whole streamed text at its end.
    fn scans_chunks(&self) -> bool;

    /// Its chunk hook with fresh state for one stream, when it scans chunks.
    fn stream_dyn(&self) -> Option<Box<dyn StreamGuard + '_>>;
}

impl<G: StageHooks> DynGuard for G {
    fn pre_request_dyn<'a>(
        &'a self,
        req: &'a mut ChatRequest,
        cx: &'a mut HookContext,
    ) -> BoxFuture<'a, Result<(), HookError>> {
        Box::pin(self.pre_request(req, cx))
    }

    fn post_response_dyn<'a>(
        &'a self,
        resp: &'a mut ChatResponse,
        cx: &'a mut HookContext,
    ) -> BoxFuture<'a, Result<(), HookError>> {
        Box::pin(self.post_response(resp, cx))
    }

    fn scans_chunks(&self) -> bool {
        self.chunks().is_some()
    }

    fn stream_dyn(&self) -> Option<Box<dyn StreamGuard + '_>> {
        let hook = self.chunks()?;
        Some(Box::new(Streamed {
            hook,
            state: Default::default(),
        }))
    }
}

/// A chunk hook bound to its state for one stream.
pub(crate) trait StreamGuard: Send {
    /// [`OnChunk::on_chunk`] with this stream's state.
    fn on_chunk(
        &mut self,
        chunk: &mut ChatChunk,
        cx: &HookContext,
    ) -> Result<ChunkAction, HookError>;

    /// [`OnChunk::on_end`] with this stream's state.
    fn on_end(&mut self, cx: &HookContext) -> Result<Option<ChatChunk>, HookError>;
}

struct Streamed<'g, H: OnChunk> {
    hook: &'g H,
    state: H::State,
}

impl<H: OnChunk> StreamGuard for Streamed<'_, H> {
    fn on_chunk(
        &mut self,
        chunk: &mut ChatChunk,
        cx: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        self.hook.on_chunk(chunk, &mut self.state, cx)
    }

    fn on_end(&mut self, cx: &HookContext) -> Result<Option<ChatChunk>, HookError> {
        self.hook.on_end(&mut self.state, cx)
    }
}
