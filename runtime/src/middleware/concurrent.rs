//! [`Concurrently`]: an input check that runs while the model call is
//! already in flight.

use std::future::Future;

use futures::future::{Either, select};

use crate::client::{ChatClient, ChatStream, ClientError};
use crate::hooks::{FailurePolicy, HookContext, PreRequest, Stage, guard};
use crate::types::{ChatRequest, ChatResponse};

/// Runs an input check alongside the model call.
///
/// A slow input check (a moderation call, an LLM judge) placed before the
/// request adds its whole latency to every call. [`Concurrently`] starts the
/// model call and the check together: if the check trips, the in-flight call
/// is dropped at once (its connection closed, nothing more read) and the
/// caller gets the tripwire; if the reply comes first, it is held until the
/// check passes. A stream is returned only once the check has passed, so no
/// chunk of a reply to a forbidden input ever reaches the caller.
///
/// The check sees a copy of the request: rewrites it makes are discarded
/// (rewriting hooks belong before the call).
///
/// ```no_run
/// use openai_hooks::middleware::Concurrently;
/// use openai_hooks::{ChatRequest, HookContext, HookError, PreRequest};
/// use openai_hooks::async_openai::{Client, config::OpenAIConfig};
///
/// struct SlowJudge;
/// impl PreRequest for SlowJudge {
///     async fn pre_request(&self, _: &mut ChatRequest, _: &mut HookContext) -> Result<(), HookError> {
///         // ask a moderation endpoint ...
///         Ok(())
///     }
/// }
/// let client = Concurrently::new(Client::with_config(OpenAIConfig::new()), SlowJudge, "judge");
/// # drop(client);
/// ```
#[derive(Debug, Clone)]
pub struct Concurrently<C, H> {
    inner: C,
    check: H,
    name: &'static str,
    policy: FailurePolicy,
}

impl<C, H> Concurrently<C, H> {
    /// Wraps `inner`; `check` runs on every call, named `name` in errors.
    pub fn new(inner: C, check: H, name: &'static str) -> Self {
        Self {
            inner,
            check,
            name,
            policy: FailurePolicy::FailClosed,
        }
    }

    /// What happens when the check fails (not when it trips).
    pub fn failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The wrapped client.
    pub fn inner(&self) -> &C {
        &self.inner
    }
}

impl<C: ChatClient, H: PreRequest> Concurrently<C, H> {
    /// Races `call(req)` against the check on a copy of `req`.
    async fn run<T, F>(
        &self,
        req: ChatRequest,
        streaming: bool,
        call: impl FnOnce(ChatRequest) -> F,
    ) -> Result<T, ClientError>
    where
        F: Future<Output = Result<T, ClientError>>,
    {
        let mut copy = req.clone();
        let mut cx = if streaming {
            HookContext::for_stream(&req)
        } else {
            HookContext::for_request(&req)
        };
        let call = call(req);
        let check = guard(
            self.check.pre_request(&mut copy, &mut cx),
            self.name,
            Stage::PreRequest,
            self.policy,
        );
        race(check, call).await
    }
}

/// Runs `check` and `call` together: a failed check drops `call` at once
/// (cancelling the request in flight and closing its connection); a reply
/// that comes first is held until the check passes.
pub(crate) async fn race<T>(
    check: impl Future<Output = Result<(), ClientError>>,
    call: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    match select(std::pin::pin!(check), std::pin::pin!(call)).await {
        Either::Left((Ok(()), call)) => call.await,
        // Returning drops the pinned call: the request in flight is
        // cancelled and its connection closed.
        Either::Left((Err(tripped), _)) => Err(tripped),
        Either::Right((reply, check)) => {
            check.await?;
            reply
        }
    }
}

impl<C: ChatClient, H: PreRequest> ChatClient for Concurrently<C, H> {
    fn create(
        &self,
        req: ChatRequest,
    ) -> impl Future<Output = Result<ChatResponse, ClientError>> + Send {
        self.run(req, false, |req| self.inner.create(req))
    }

    fn create_stream(
        &self,
        req: ChatRequest,
    ) -> impl Future<Output = Result<ChatStream<'_>, ClientError>> + Send {
        self.run(req, true, |req| self.inner.create_stream(req))
    }
}
