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
use crate::client::{ChatClient, ClientError, ResponsesClient};
use crate::types::ApiRequest;
use crate::types::responses::{Response, ResponseEvent, ResponsesRequest};

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
pub fn sent(cx: &mut HookContext, req: &impl ApiRequest) {
    cx.set_model(req.model_name());
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
/// Compile-time check that `T` is a `ResponsesClient`.
pub const fn assert_responses_client<T: ResponsesClient + ?Sized>() {}

/// A pre-request hook for the Responses API: the bound the check below
/// puts on a hook of a client that serves that API, so that the error
/// says which API the hook lacks.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a pre-request hook for the Responses API",
    label = "this type does not implement `PreRequest<ResponsesRequest>`",
    note = "a client with `api = responses` or `api = both` runs its hooks on Responses requests: implement `openai_hooks::PreRequest<ResponsesRequest>` for `{Self}`, or serve only `api = chat`"
)]
pub trait ResponsesPreRequest: PreRequest<ResponsesRequest> {}

#[diagnostic::do_not_recommend]
impl<T: PreRequest<ResponsesRequest> + ?Sized> ResponsesPreRequest for T {}

/// A post-response hook for the Responses API (see [`ResponsesPreRequest`]).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a post-response hook for the Responses API",
    label = "this type does not implement `PostResponse<Response>`",
    note = "a client with `api = responses` or `api = both` runs its hooks on Responses replies: implement `openai_hooks::PostResponse<Response>` for `{Self}`, or serve only `api = chat`"
)]
pub trait ResponsesPostResponse: PostResponse<Response> {}

#[diagnostic::do_not_recommend]
impl<T: PostResponse<Response> + ?Sized> ResponsesPostResponse for T {}

/// A chunk hook for the Responses API (see [`ResponsesPreRequest`]).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event hook for the Responses API",
    label = "this type does not implement `OnChunk<ResponseEvent>`",
    note = "a client with `api = responses` or `api = both` runs its chunk hooks on Responses events: implement `openai_hooks::OnChunk<ResponseEvent>` for `{Self}`, or serve only `api = chat`"
)]
pub trait ResponsesOnChunk: OnChunk<ResponseEvent> {}

#[diagnostic::do_not_recommend]
impl<T: OnChunk<ResponseEvent> + ?Sized> ResponsesOnChunk for T {}

/// Compile-time check that `T` is a Responses pre-request hook.
pub const fn assert_responses_pre_request<T: ResponsesPreRequest + ?Sized>() {}
/// Compile-time check that `T` is a Responses post-response hook.
pub const fn assert_responses_post_response<T: ResponsesPostResponse + ?Sized>() {}
/// Compile-time check that `T` is a Responses event hook.
pub const fn assert_responses_on_chunk<T: ResponsesOnChunk + ?Sized>() {}
