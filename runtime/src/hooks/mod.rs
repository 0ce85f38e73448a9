//! Hooks: the traits, the context they share, their errors, and
//! [`HookTimeout`]. The items most code names are re-exported at the crate
//! root.
//!
//! Three kinds of hook run around a [`ChatClient`](crate::ChatClient) (and a
//! [`ResponsesClient`](crate::ResponsesClient): each trait takes the API's
//! type as a parameter, Chat's by default):
//!
//! | trait | when | may |
//! |---|---|---|
//! | [`PreRequest`] | before the request leaves | rewrite it, or stop it with a tripwire |
//! | [`PostResponse`] | after a complete reply, before the caller sees it | rewrite, validate, audit, stop |
//! | [`OnChunk`] | on every streamed chunk, before the caller sees it | rewrite, drop, hold back, stop |
//!
//! Hooks of one kind run in the order they are declared. A hook stops a call
//! with [`HookError::tripwire`]: that is a decision, and always ends the call.
//! A hook that cannot do its job returns [`HookError::failed`]: by default
//! that also ends the call (fail closed); a hook declared `fail_open` is
//! skipped instead, with a `tracing` warning.

pub(crate) mod chain;
mod context;
mod error;
pub(crate) mod method;
pub(crate) mod run;
mod timeout;

use std::future::Future;

pub use context::HookContext;
pub use error::{BoxError, HookError, Tripwire};
pub use timeout::{HookTimedOut, HookTimeout};

pub(crate) use chain::{ChunkChain, hooked};
pub(crate) use run::{enter, guard, outcome};

use crate::types::{ChatChunk, ChatRequest, ChatResponse};

/// Where in a call a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// Before the request is sent.
    PreRequest,
    /// After a complete (non-streamed) reply.
    PostResponse,
    /// On a streamed chunk.
    Chunk,
    /// At the end of a stream (flush).
    StreamEnd,
}

impl Stage {
    /// The stage's name, as used in errors and traces.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PreRequest => "pre_request",
            Self::PostResponse => "post_response",
            Self::Chunk => "on_chunk",
            Self::StreamEnd => "stream_end",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a hook does when it fails (not when it trips).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// The call ends with the hook's error (the default).
    #[default]
    FailClosed,
    /// The hook is skipped for this call and a warning is logged.
    FailOpen,
}

/// A hook that runs before the request is sent.
///
/// `R` is the request it sees: [`ChatRequest`] (the default) for Chat
/// Completions, [`ResponsesRequest`](crate::types::responses::ResponsesRequest)
/// for the Responses API. A hook that serves both APIs implements both.
///
/// ```
/// use openai_hooks::{ChatRequest, HookContext, HookError, PreRequest};
///
/// /// Routes every request to one model.
/// struct PinModel(&'static str);
///
/// impl PreRequest for PinModel {
///     async fn pre_request(&self, req: &mut ChatRequest, _cx: &mut HookContext) -> Result<(), HookError> {
///         req.model = self.0.to_owned();
///         Ok(())
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a pre-request hook",
    label = "this type does not implement `PreRequest`",
    note = "implement `openai_hooks::PreRequest` for `{Self}`: `async fn pre_request(&self, req: &mut ChatRequest, cx: &mut HookContext) -> Result<(), HookError>`"
)]
pub trait PreRequest<R = ChatRequest>: Send + Sync {
    /// Inspects and may rewrite `req`; returns an error to stop the call.
    fn pre_request(
        &self,
        req: &mut R,
        cx: &mut HookContext,
    ) -> impl Future<Output = Result<(), HookError>> + Send;
}

/// A hook that runs on a complete reply before the caller sees it.
///
/// `R` is the reply it sees: [`ChatResponse`] (the default) or the
/// Responses API's [`Response`](crate::types::responses::Response).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a post-response hook",
    label = "this type does not implement `PostResponse`",
    note = "implement `openai_hooks::PostResponse` for `{Self}`: `async fn post_response(&self, resp: &mut ChatResponse, cx: &mut HookContext) -> Result<(), HookError>`"
)]
pub trait PostResponse<R = ChatResponse>: Send + Sync {
    /// Inspects and may rewrite `resp`; returns an error to stop the call.
    fn post_response(
        &self,
        resp: &mut R,
        cx: &mut HookContext,
    ) -> impl Future<Output = Result<(), HookError>> + Send;
}

/// What a chunk hook decided about a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChunkAction {
    /// Pass the (possibly rewritten) chunk on.
    #[default]
    Pass,
    /// Drop the chunk: later hooks and the caller never see it.
    Drop,
}

/// A hook that runs on every streamed chunk before the caller sees it.
///
/// `E` is what the stream carries: [`ChatChunk`] (the default) or the
/// Responses API's [`ResponseEvent`](crate::types::responses::ResponseEvent).
///
/// Runs synchronously: it sits on the hot path of every chunk. Each stream
/// gets a fresh [`State`](OnChunk::State); [`on_end`](OnChunk::on_end) runs
/// when the upstream finishes and may emit chunks it held back.
///
/// ```
/// use openai_hooks::{ChatChunk, ChunkAction, HookContext, HookError, OnChunk};
///
/// /// Counts characters streamed to the caller.
/// struct CountChars;
///
/// impl OnChunk for CountChars {
///     type State = usize;
///     fn on_chunk(&self, chunk: &mut ChatChunk, seen: &mut usize, _cx: &HookContext) -> Result<ChunkAction, HookError> {
///         *seen += chunk.content().map_or(0, str::len);
///         Ok(ChunkAction::Pass)
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a chunk hook",
    label = "this type does not implement `OnChunk`",
    note = "implement `openai_hooks::OnChunk` for `{Self}`: `type State: Default + Send;` and `fn on_chunk(&self, chunk: &mut ChatChunk, state: &mut Self::State, cx: &HookContext) -> Result<ChunkAction, HookError>`"
)]
pub trait OnChunk<E = ChatChunk>: Send + Sync {
    /// Per-stream state, created fresh (`Default`) for every stream.
    type State: Default + Send;

    /// Inspects and may rewrite or drop `chunk`; returns an error to end the
    /// stream (nothing after it reaches the caller).
    fn on_chunk(
        &self,
        chunk: &mut E,
        state: &mut Self::State,
        cx: &HookContext,
    ) -> Result<ChunkAction, HookError>;

    /// Runs once when the upstream finishes; returns a chunk to emit before
    /// the stream ends (for example text held back to look for a match).
    fn on_end(&self, state: &mut Self::State, cx: &HookContext) -> Result<Option<E>, HookError> {
        let _ = (state, cx);
        Ok(None)
    }

    /// Whether the hook ever [`release`](Self::release)s items: `false`
    /// (the default) lets the chain skip asking for them on every chunk. A
    /// hook that implements `release` sets it to `true`.
    const RELEASES: bool = false;

    /// Items to emit ahead of the chunk [`on_chunk`](Self::on_chunk) was
    /// just given (or, after [`on_end`](Self::on_end), before the stream
    /// ends), taken one at a time until `None`; each goes through the hooks
    /// after this one. For a hook that holds text back and must release it
    /// as items of its own: a Responses stream has no later delta to carry
    /// what a text's last delta held. None by default.
    fn release(&self, state: &mut Self::State) -> Option<E> {
        let _ = state;
        None
    }

    /// Items the hook still holds when, declared `fail_open`, it failed and
    /// sits out the rest of the stream: taken one at a time until `None`,
    /// and passed on ahead of the chunk it failed on, unchecked by it (its
    /// policy lets the stream go on without it). None by default: a hook
    /// that holds nothing back loses nothing.
    fn abandon(&self, state: &mut Self::State) -> Option<E> {
        let _ = state;
        None
    }
}

// Hooks behind `&` and `Arc` are hooks, so a client can share one with
// another. `do_not_recommend`: when a type is not a hook, rustc does not
// offer these as the fix (borrowing or sharing it would not make it one).
macro_rules! forward_hooks {
    ($($ptr:ty),*) => {$(
        #[diagnostic::do_not_recommend]
        impl<R, T: PreRequest<R> + ?Sized> PreRequest<R> for $ptr {
            fn pre_request(
                &self,
                req: &mut R,
                cx: &mut HookContext,
            ) -> impl Future<Output = Result<(), HookError>> + Send {
                T::pre_request(self, req, cx)
            }
        }

        #[diagnostic::do_not_recommend]
        impl<R, T: PostResponse<R> + ?Sized> PostResponse<R> for $ptr {
            fn post_response(
                &self,
                resp: &mut R,
                cx: &mut HookContext,
            ) -> impl Future<Output = Result<(), HookError>> + Send {
                T::post_response(self, resp, cx)
            }
        }

        #[diagnostic::do_not_recommend]
        impl<E, T: OnChunk<E> + ?Sized> OnChunk<E> for $ptr {
            type State = T::State;
            const RELEASES: bool = T::RELEASES;
            fn on_chunk(
                &self,
                chunk: &mut E,
                state: &mut Self::State,
                cx: &HookContext,
            ) -> Result<ChunkAction, HookError> {
                T::on_chunk(self, chunk, state, cx)
            }
            fn on_end(
                &self,
                state: &mut Self::State,
                cx: &HookContext,
            ) -> Result<Option<E>, HookError> {
                T::on_end(self, state, cx)
            }
            fn release(&self, state: &mut Self::State) -> Option<E> {
                T::release(self, state)
            }
            fn abandon(&self, state: &mut Self::State) -> Option<E> {
                T::abandon(self, state)
            }
        }
    )*};
}

forward_hooks!(&T, std::sync::Arc<T>);
