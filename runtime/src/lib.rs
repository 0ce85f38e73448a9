//! Guardrails, observability and connection reuse for OpenAI-compatible
//! chat clients.
//!
//! | where | what |
//! |---|---|
//! | [`ChatClient`] ([`client`]) | one trait for async-openai's client, generated clients and your own; [`ClientError`] for every way a call ends |
//! | [`#[openai_client]`](openai_client) | turns a struct of hooks around an inner client into a typed client, checked at compile time |
//! | [`hooks`] | [`PreRequest`], [`PostResponse`], [`OnChunk`], the [`HookContext`] they share, [`HookError`], a time limit on a hook |
//! | [`middleware`] | clients that wrap a client: [`Timeout`](middleware::Timeout), [`Concurrently`](middleware::Concurrently); every time limit in one table |
//! | [`transport`] | the HTTP layer under async-openai: retries, bounded bodies and events |
//! | [`guardrails`] | built-in hooks that find PII, keywords, secrets, URLs and oversized input, streaming-safe; model-backed checks; JSON bundles in stages |
//! | [`model`] | [`OpenAIModel`]: Strands-style events and structured output over an injected, per-runtime, factory or per-request client |
//! | [`telemetry`] | a hook that traces calls with OpenTelemetry GenAI names |
//! | [`types`], [`text`], [`limits`] | lenient wire types; the walk over a request's text; what a server can make the client hold |
//! | `sse` (feature `axum`) | a model's reply as Server-Sent Events from an axum handler, errors as statuses safe to show |
//! | `server` (feature `server`) | a local OpenAI-compatible server for tests, examples and benchmarks |
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
pub mod guardrails;
pub mod hooks;
pub mod limits;
pub mod middleware;
pub mod model;
mod redact;
pub mod telemetry;
pub mod text;
pub mod transport;
pub mod types;

#[cfg(feature = "server")]
pub mod server;

#[cfg(feature = "axum")]
pub mod sse;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use client::{
    ApiError, ChatClient, ChatStream, ClientError, DynChatClient, DynResponsesClient,
    ResponseStream, ResponsesClient,
};
pub use hooks::{
    BoxError, ChunkAction, FailurePolicy, HookContext, HookError, OnChunk, PostResponse,
    PreRequest, Stage, Tripwire,
};
pub use model::{Model, OpenAIModel};
pub use types::{ChatChunk, ChatRequest, ChatResponse, FinishReason, Usage};

#[doc = include_str!("openai_client.md")]
pub use openai_hooks_macros::openai_client;

/// The README's examples, compiled as doctests (they use the local server).
#[cfg(all(doctest, feature = "server"))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// async-openai, re-exported so its version always matches this crate's.
pub use async_openai;
