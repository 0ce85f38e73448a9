//! [`HookTimeout`]: a time limit on one pre-request or post-response hook.

use std::future::Future;
use std::time::Duration;

use super::{HookContext, HookError, PostResponse, PreRequest};

/// A pre-request or post-response hook with a time limit.
///
/// A hook that calls out (a moderation service, a policy store) may hang;
/// wrapped, it fails with [`HookTimedOut`] as its source once `limit` has
/// passed, and that failure follows the hook's policy like any other: the
/// call ends (fail closed, the default) or the hook is skipped (`fail_open`).
/// The hook's future is dropped at the limit, so anything it changed in the
/// request or reply before then stays changed.
///
/// Chunk hooks run synchronously on each chunk and cannot be interrupted;
/// limit a stream's silences with [`Timeout::idle`](crate::middleware::Timeout::idle) instead.
///
/// ```
/// use std::time::Duration;
/// use openai_hooks::async_openai::{Client, config::OpenAIConfig};
/// use openai_hooks::hooks::HookTimeout;
/// use openai_hooks::{ChatRequest, HookContext, HookError, PreRequest, openai_client};
///
/// /// Asks a remote service whether the request may go.
/// struct Moderation;
///
/// impl PreRequest for Moderation {
///     async fn pre_request(&self, _: &mut ChatRequest, _: &mut HookContext) -> Result<(), HookError> {
///         Ok(())
///     }
/// }
///
/// #[openai_client]
/// struct Guarded {
///     #[inner]
///     client: Client<OpenAIConfig>,
///     #[pre_request(fail_open)]
///     moderation: HookTimeout<Moderation>,
/// }
///
/// let client = Guarded {
///     client: Client::with_config(OpenAIConfig::new()),
///     moderation: HookTimeout::new(Moderation, Duration::from_millis(300)),
/// };
/// # drop(client);
/// ```
#[derive(Debug, Clone)]
pub struct HookTimeout<H> {
    hook: H,
    limit: Duration,
}

impl<H> HookTimeout<H> {
    /// Limits each run of `hook` to `limit`.
    pub fn new(hook: H, limit: Duration) -> Self {
        Self { hook, limit }
    }

    /// The wrapped hook.
    pub fn inner(&self) -> &H {
        &self.hook
    }

    /// The limit on one run.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    async fn run(&self, fut: impl Future<Output = Result<(), HookError>>) -> Result<(), HookError> {
        match tokio::time::timeout(self.limit, fut).await {
            Ok(r) => r,
            Err(_) => Err(HookError::failed(HookTimedOut { after: self.limit })),
        }
    }
}

impl<R: Send, H: PreRequest<R>> PreRequest<R> for HookTimeout<H> {
    async fn pre_request(&self, req: &mut R, cx: &mut HookContext) -> Result<(), HookError> {
        self.run(self.hook.pre_request(req, cx)).await
    }
}

impl<R: Send, H: PostResponse<R>> PostResponse<R> for HookTimeout<H> {
    async fn post_response(&self, resp: &mut R, cx: &mut HookContext) -> Result<(), HookError> {
        self.run(self.hook.post_response(resp, cx)).await
    }
}

/// The source of the [`HookError::Failed`] a [`HookTimeout`] reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the hook did not finish within {after:?}")]
pub struct HookTimedOut {
    /// The limit that ran out.
    pub after: Duration,
}
