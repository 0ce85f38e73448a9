//! What generated code reaches: not a public API, no stability promise.
//!
//! Re-exports only; each item lives in the module its docs name.

pub use crate::hooks::chain::{ChunkChain, ChunkMethod, Link, MethodChunk, hooked};
pub use crate::hooks::method::{
    PostResponseFuture, PreRequestFuture, post_response_method, pre_request_method,
};
pub use crate::hooks::run::{
    assert_chat_client, assert_on_chunk, assert_post_response, assert_pre_request,
    assert_responses_client, assert_responses_on_chunk, assert_responses_post_response,
    assert_responses_pre_request, enter, guard, sent,
};
pub use crate::hooks::{FailurePolicy, HookContext, OnChunk, PostResponse, PreRequest, Stage};
pub use crate::types::responses::{Response as ResponsesResponse, ResponseEvent, ResponsesRequest};
pub use crate::{ChatChunk, ChatClient, ChatRequest, ChatResponse, ChatStream, ClientError};
pub use crate::{ChunkAction, HookError, ResponseStream, ResponsesClient};
