//! Running one pre-request or post-response hook: catching its panic and
//! applying its failure policy. Generated clients, the chunk chain,
//! [`Concurrently`](crate::middleware::Concurrently) and the guardrail
//! pipeline all run hooks through these.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;

use super::{
    FailurePolicy, HookContext, HookError as Error, OnChunk, PostResponse, PreRequest, Stage,
};
use crate::client::{ChatClient, ClientError};
use crate::types::ChatRequest;

/// Applies `policy` to the result of running hook `name` at `stage`:
/// `Ok(Some(v))` to go on with `v`, `Ok(None)` when a fail-open hook failed
/// and is to be skipped, `Err` to stop.
pub(crate) fn outcome<T>(
    r: std::thread::Result<Result<T, Error>>,
    name: &'static str,
    stage: Stage,
    policy: FailurePolicy,
) -> Result<Option<T>, Error> {
    let err = match r {
        Ok(Ok(v)) => return Ok(Some(v)),
        Ok(Err(e)) => e.attribute(name, stage),
        Err(payload) => Error::Panicked {
            hook: name.into(),
            stage,
            message: panic_message(payload.as_ref()),
        },
    };
    if err.is_tripwire() || policy == FailurePolicy::FailClosed {
        return Err(err);
    }
    tracing::warn!(hook = name, stage = %stage, error = %err, "hook failed open; skipped");
    Ok(None)
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-text panic payload".to_owned()
    }
}

/// Marks the stage `cx` is entering.
pub fn enter(cx: &mut HookContext, stage: Stage) {
    cx.set_stage(stage);
}

/// Records the request as the pre-request hooks left it (the model may have
/// been rerouted).
pub fn sent(cx: &mut HookContext, req: &ChatRequest) {
    cx.set_model(&req.model);
}

/// Awaits one pre-request or post-response hook (`fut`), catching a panic and
/// applying its failure policy.
pub async fn guard<F>(
    fut: F,
    name: &'static str,
    stage: Stage,
    policy: FailurePolicy,
) -> Result<(), ClientError>
where
    F: Future<Output = Result<(), Error>>,
{
    let r = AssertUnwindSafe(fut).catch_unwind().await;
    outcome(r, name, stage, policy)?;
    Ok(())
}

/// Compile-time check that `T` is a `PreRequest` hook; its error lands on
/// the field's type.
pub const fn assert_pre_request<T: PreRequest + ?Sized>() {}
/// Compile-time check that `T` is a `PostResponse` hook.
pub const fn assert_post_response<T: PostResponse + ?Sized>() {}
/// Compile-time check that `T` is an `OnChunk` hook.
pub const fn assert_on_chunk<T: OnChunk + ?Sized>() {}
/// Compile-time check that `T` is a `ChatClient`.
pub const fn assert_chat_client<T: ChatClient + ?Sized>() {}
