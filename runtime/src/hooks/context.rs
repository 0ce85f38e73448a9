//! [`HookContext`]: what the hooks of one call share.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, OnceLock, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::Stage;
use crate::types::ApiRequest;

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

    /// A context for `request` (of either API), sent with `create`.
    pub fn for_request(request: &impl ApiRequest) -> Self {
        Self::new(request.model_name())
    }

    /// A context for `request` (of either API), sent with `create_stream`.
    pub fn for_stream(request: &impl ApiRequest) -> Self {
        let mut cx = Self::new(request.model_name());
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
