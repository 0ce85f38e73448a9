//! Guardrails, observability and connection reuse for OpenAI-compatible
//! chat clients.
//!
//! - [`ChatClient`]: one trait for async-openai's client, generated clients
//!   and your own.
//! - [`#[openai_client]`](openai_client): turns a struct of hooks around an
//!   inner client into a typed client, checked at compile time.
//! - [`PreRequest`], [`PostResponse`], [`OnChunk`]: the hooks.
//! - [`guardrails`]: built-in hooks that find PII, keywords, secrets, URLs
//!   and oversized input, streaming-safe.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
pub mod concurrent;
mod error;
pub mod guardrails;
mod hooks;
pub mod limits;
mod method;
pub mod model;
mod redact;
mod source;
mod stream;
pub mod telemetry;
pub mod text;
pub mod timeout;
pub mod transport;
pub mod types;

#[cfg(feature = "server")]
pub mod server;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub(crate) use __private as private;

pub use client::{ChatClient, DynChatClient};
pub use error::{ApiError, ClientError};
pub use hooks::{
    BoxError, ChunkAction, FailurePolicy, HookContext, HookError, OnChunk, PostResponse,
    PreRequest, Stage, Tripwire,
};
pub use model::{Model, OpenAIModel};
pub use stream::{ChatStream, checked};
pub use types::{ChatChunk, ChatRequest, ChatResponse, FinishReason, Usage};

#[doc = include_str!("openai_client.md")]
pub use openai_hooks_macros::openai_client;

/// The README's examples, compiled as doctests (they use the local server).
#[cfg(all(doctest, feature = "server"))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// async-openai, re-exported so its version always matches this crate's.
pub use async_openai;
