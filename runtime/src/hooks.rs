//! Hook traits, the context they share, and their errors.
//!
//! Three kinds of hook run around a [`ChatClient`](crate::ChatClient):
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

use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, OnceLock, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::types::{ChatChunk, ChatRequest, ChatResponse};

/// Boxed error a failing hook reports.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

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

/// A hook's decision to stop a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Tripwire {
    /// The hook that tripped (its field or method name, or the name it was
    /// given).
    pub hook: Cow<'static, str>,
    /// Where it tripped.
    pub stage: Stage,
    /// Why, for people.
    pub reason: String,
    /// Structured details for programs (what matched, scores, ...).
    pub info: Value,
}

impl std::fmt::Display for Tripwire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "hook `{}` stopped the call at {}: {}",
            self.hook, self.stage, self.reason
        )
    }
}

/// What a hook returns when it does not let a call go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// The hook decided to stop the call.
    #[error("{0}")]
    Tripwire(Box<Tripwire>),
    /// The hook could not do its job.
    #[error("hook `{hook}` failed at {stage}: {source}")]
    Failed {
        /// The hook that failed.
        hook: Cow<'static, str>,
        /// Where it failed.
        stage: Stage,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// The hook panicked; the panic was caught at the hook boundary and the
    /// client keeps serving other calls.
    #[error("hook `{hook}` panicked at {stage}: {message}")]
    Panicked {
        /// The hook that panicked.
        hook: Cow<'static, str>,
        /// Where.
        stage: Stage,
        /// The panic's message, when it had one.
        message: String,
    },
}

impl HookError {
    /// Stops the call. The hook's name and stage are filled in by the runner.
    ///
    /// ```
    /// use openai_hooks::HookError;
    /// let err = HookError::tripwire("competitor named")
    ///     .with_info(serde_json::json!({"term": "acme"}));
    /// assert!(matches!(err, HookError::Tripwire(_)));
    /// ```
    pub fn tripwire(reason: impl Into<String>) -> Self {
        Self::Tripwire(Box::new(Tripwire {
            hook: Cow::Borrowed(""),
            stage: Stage::PreRequest,
            reason: reason.into(),
            info: Value::Null,
        }))
    }

    /// Reports that the hook could not do its job.
    pub fn failed(source: impl Into<BoxError>) -> Self {
        Self::Failed {
            hook: Cow::Borrowed(""),
            stage: Stage::PreRequest,
            source: source.into(),
        }
    }

    /// Adds structured details to a tripwire (ignored on other kinds).
    pub fn with_info(mut self, info: Value) -> Self {
        if let Self::Tripwire(t) = &mut self {
            t.info = info;
        }
        self
    }

    /// Whether this is a tripwire.
    pub fn is_tripwire(&self) -> bool {
        matches!(self, Self::Tripwire(_))
    }

    /// The hook this error names.
    pub fn hook(&self) -> &str {
        match self {
            Self::Tripwire(t) => &t.hook,
            Self::Failed { hook, .. } | Self::Panicked { hook, .. } => hook,
        }
    }

    /// The stage this error names.
    pub fn stage(&self) -> Stage {
        match self {
            Self::Tripwire(t) => t.stage,
            Self::Failed { stage, .. } | Self::Panicked { stage, .. } => *stage,
        }
    }

    /// Names the hook and stage, unless the hook named them itself.
    pub(crate) fn attribute(mut self, name: &'static str, at: Stage) -> Self {
        match &mut self {
            Self::Tripwire(t) => {
                if t.hook.is_empty() {
                    t.hook = Cow::Borrowed(name);
                    t.stage = at;
                }
            }
            Self::Failed { hook, stage, .. } | Self::Panicked { hook, stage, .. } => {
                if hook.is_empty() {
                    *hook = Cow::Borrowed(name);
                    *stage = at;
                }
            }
        }
        self
    }
}

/// Data shared by the hooks of one call.
///
/// Carries the call's identity (request id, model, start time), the current
/// stage, and typed extensions through which one hook hands data to a later
/// one (for example a PII hook recording what it masked for an audit hook).
///
/// ```
/// use openai_hooks::HookContext;
/// #[derive(Clone, Debug, PartialEq)]
/// struct Masked(usize);
///
/// let mut cx = HookContext::new("gpt-4o-mini");
/// cx.extensions_mut().insert(Masked(2));
/// assert_eq!(cx.extensions().get::<Masked>(), Some(&Masked(2)));
/// ```
pub struct HookContext {
    /// The call's number in this process; its text form is made when first
    /// asked for (most calls never are).
    serial: u64,
    request_id: OnceLock<String>,
    model: String,
    stage: Stage,
    streaming: bool,
    started: Instant,
    extensions: http::Extensions,
    /// Values shared through `&self` (see [`HookContext::shared`]).
    shared: Mutex<http::Extensions>,
}

impl std::fmt::Debug for HookContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookContext")
            .field("request_id", &self.request_id())
            .field("model", &self.model)
            .field("stage", &self.stage)
            .field("streaming", &self.streaming)
            .field("started", &self.started)
            .field("extensions", &self.extensions)
            .field("shared", &self.shared)
            .finish()
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// This process's part of every request id: when it first wrote one (in
/// milliseconds since the epoch) and its process id. With the counter,
/// request ids are unique within the process and distinct across restarts
/// and across processes started in the same millisecond.
static PROCESS_TAG: LazyLock<String> = LazyLock::new(|| {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("{millis:x}_{:x}", std::process::id())
});

impl HookContext {
    /// A context for a new call to `model`, with a fresh request id.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            serial: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            request_id: OnceLock::new(),
            model: model.into(),
            stage: Stage::PreRequest,
            streaming: false,
            started: Instant::now(),
            extensions: http::Extensions::new(),
            shared: Mutex::new(http::Extensions::new()),
        }
    }

    /// A context for `request`, sent with `create`.
    pub fn for_request(request: &ChatRequest) -> Self {
        Self::new(request.model.clone())
    }

    /// A context for `request`, sent with `create_stream`.
    pub fn for_stream(request: &ChatRequest) -> Self {
        let mut cx = Self::new(request.model.clone());
        cx.streaming = true;
        cx
    }

    /// Whether the call streams (`create_stream`), known from the start:
    /// pre-request hooks run before the client marks the request itself
    /// with `stream: true`.
    pub fn is_streaming(&self) -> bool {
        self.streaming
    }

    /// This call's id: unique within the process, and tagged with the
    /// process (its start and id) so ids from several processes differ.
    pub fn request_id(&self) -> &str {
        self.request_id
            .get_or_init(|| format!("req_{}_{}", *PROCESS_TAG, self.serial))
    }

    /// The model the request names (after any pre-request rewrite: the
    /// runner refreshes it once pre-request hooks ran).
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The stage now running.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// When the call started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Typed data hooks hand to each other.
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// Typed data hooks hand to each other, mutable.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }

    /// The call's shared value of type `T`, made with `T::default()` the
    /// first time it is asked for.
    ///
    /// Chunk hooks see the context only by `&`; what they record for the
    /// rest of the call (a guardrail's results, a counter) lives here. `T`
    /// is meant to be a handle (an `Arc` inside), so what one hook adds,
    /// later hooks and the code that made the context see.
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
    /// use openai_hooks::HookContext;
    ///
    /// #[derive(Clone, Default)]
    /// struct Seen(Arc<AtomicUsize>);
    ///
    /// let cx = HookContext::new("gpt-4o-mini");
    /// cx.shared::<Seen>().0.fetch_add(1, Ordering::Relaxed);
    /// assert_eq!(cx.shared::<Seen>().0.load(Ordering::Relaxed), 1);
    /// ```
    pub fn shared<T: Clone + Default + Send + Sync + 'static>(&self) -> T {
        self.shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_default::<T>()
            .clone()
    }

    /// The call's shared value of type `T`, if one was made or set.
    pub fn shared_if_set<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get::<T>()
            .cloned()
    }

    /// Sets the call's shared value of type `T` (a handle the code that
    /// makes the context keeps, to read what hooks recorded).
    pub fn set_shared<T: Clone + Send + Sync + 'static>(&self, value: T) {
        self.shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(value);
    }

    pub(crate) fn set_stage(&mut self, stage: Stage) {
        self.stage = stage;
    }

    pub(crate) fn set_model(&mut self, model: &str) {
        if self.model != model {
            model.clone_into(&mut self.model);
        }
    }
}

/// A hook that runs before the request is sent.
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
pub trait PreRequest: Send + Sync {
    /// Inspects and may rewrite `req`; returns an error to stop the call.
    fn pre_request(
        &self,
        req: &mut ChatRequest,
        cx: &mut HookContext,
    ) -> impl Future<Output = Result<(), HookError>> + Send;
}

/// A hook that runs on a complete reply before the caller sees it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a post-response hook",
    label = "this type does not implement `PostResponse`",
    note = "implement `openai_hooks::PostResponse` for `{Self}`: `async fn post_response(&self, resp: &mut ChatResponse, cx: &mut HookContext) -> Result<(), HookError>`"
)]
pub trait PostResponse: Send + Sync {
    /// Inspects and may rewrite `resp`; returns an error to stop the call.
    fn post_response(
        &self,
        resp: &mut ChatResponse,
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
pub trait OnChunk: Send + Sync {
    /// Per-stream state, created fresh (`Default`) for every stream.
    type State: Default + Send;

    /// Inspects and may rewrite or drop `chunk`; returns an error to end the
    /// stream (nothing after it reaches the caller).
    fn on_chunk(
        &self,
        chunk: &mut ChatChunk,
        state: &mut Self::State,
        cx: &HookContext,
    ) -> Result<ChunkAction, HookError>;

    /// Runs once when the upstream finishes; returns a chunk to emit before
    /// the stream ends (for example text held back to look for a match).
    fn on_end(
        &self,
        state: &mut Self::State,
        cx: &HookContext,
    ) -> Result<Option<ChatChunk>, HookError> {
        let _ = (state, cx);
        Ok(None)
    }
}

// Hooks behind `&` and `Arc` are hooks, so a client can share one with
// another. `do_not_recommend`: when a type is not a hook, rustc does not
// offer these as the fix (borrowing or sharing it would not make it one).
macro_rules! forward_hooks {
    ($($ptr:ty),*) => {$(
        #[diagnostic::do_not_recommend]
        impl<T: PreRequest + ?Sized> PreRequest for $ptr {
            fn pre_request(
                &self,
                req: &mut ChatRequest,
                cx: &mut HookContext,
            ) -> impl Future<Output = Result<(), HookError>> + Send {
                T::pre_request(self, req, cx)
            }
        }

        #[diagnostic::do_not_recommend]
        impl<T: PostResponse + ?Sized> PostResponse for $ptr {
            fn post_response(
                &self,
                resp: &mut ChatResponse,
                cx: &mut HookContext,
            ) -> impl Future<Output = Result<(), HookError>> + Send {
                T::post_response(self, resp, cx)
            }
        }

        #[diagnostic::do_not_recommend]
        impl<T: OnChunk + ?Sized> OnChunk for $ptr {
            type State = T::State;
            fn on_chunk(
                &self,
                chunk: &mut ChatChunk,
                state: &mut Self::State,
                cx: &HookContext,
            ) -> Result<ChunkAction, HookError> {
                T::on_chunk(self, chunk, state, cx)
            }
            fn on_end(
                &self,
                state: &mut Self::State,
                cx: &HookContext,
            ) -> Result<Option<ChatChunk>, HookError> {
                T::on_end(self, state, cx)
            }
        }
    )*};
}

forward_hooks!(&T, std::sync::Arc<T>);
