//! Pre-request and post-response hooks written as methods of a generated
//! client (`#[openai_client(pre_request = Self::stamp)]`); chunk methods
//! are [`MethodChunk`](super::chain::MethodChunk)s.
//!
//! Generated code passes the user's method path to these helpers rather
//! than calling it directly, so that a method that does not fit fails a
//! bound whose error names the cause once, on the user's path.

use std::future::Future;

use futures::future::BoxFuture;

use crate::hooks::{HookContext, HookError};

/// What a pre-request hook method's future must be.
///
/// The method's arguments are checked by a plain `FnOnce` bound (rustc
/// then shows both signatures); this trait only says what to write when
/// the method is not `async` or returns something else.
#[diagnostic::on_unimplemented(
    message = "this method cannot be a pre-request hook: it must be `async` and return `Result<(), HookError>`",
    label = "expected `async fn(&self, req: &mut ChatRequest, cx: &mut HookContext) -> Result<(), HookError>`",
    note = "the method returns `{Self}`"
)]
pub trait PreRequestFuture: Future<Output = Result<(), HookError>> {}

// `do_not_recommend`: report this trait's message, not the `Future` bound.
#[diagnostic::do_not_recommend]
impl<T: Future<Output = Result<(), HookError>>> PreRequestFuture for T {}

/// What a post-response hook method's future must be.
#[diagnostic::on_unimplemented(
    message = "this method cannot be a post-response hook: it must be `async` and return `Result<(), HookError>`",
    label = "expected `async fn(&self, resp: &mut ChatResponse, cx: &mut HookContext) -> Result<(), HookError>`",
    note = "the method returns `{Self}`"
)]
pub trait PostResponseFuture: Future<Output = Result<(), HookError>> {}

#[diagnostic::do_not_recommend]
impl<T: Future<Output = Result<(), HookError>>> PostResponseFuture for T {}

/// Runs method `f` of `this` as a pre-request hook.
///
/// `f` comes last: the request's type (the API's) is then known when `f`
/// is checked against it, so a method for another API is reported as a
/// signature mismatch on the user's path.
///
/// Arguments, future and `Send` are separate bounds, so each failure
/// reports its own cause, once, on the user's path. The future is boxed so
/// that its type does not depend on those bounds: otherwise a failure would
/// be reported a second time, on the macro, where the caller awaits it.
/// That is one small allocation per call, next to an HTTP request; field
/// hooks are not boxed.
pub fn pre_request_method<'a, S, R, F, Fut>(
    this: &'a S,
    req: &'a mut R,
    cx: &'a mut HookContext,
    f: F,
) -> BoxFuture<'a, Result<(), HookError>>
where
    S: ?Sized,
    R: ?Sized,
    F: FnOnce(&'a S, &'a mut R, &'a mut HookContext) -> Fut,
    Fut: PreRequestFuture + Send + 'a,
{
    Box::pin(f(this, req, cx))
}

/// Runs method `f` of `this` as a post-response hook (see
/// [`pre_request_method`]).
pub fn post_response_method<'a, S, R, F, Fut>(
    this: &'a S,
    resp: &'a mut R,
    cx: &'a mut HookContext,
    f: F,
) -> BoxFuture<'a, Result<(), HookError>>
where
    S: ?Sized,
    R: ?Sized,
    F: FnOnce(&'a S, &'a mut R, &'a mut HookContext) -> Fut,
    Fut: PostResponseFuture + Send + 'a,
{
    Box::pin(f(this, resp, cx))
}
