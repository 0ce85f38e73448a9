//! Every kind of hook, from fields and from methods, around a concrete
//! inner client.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::{
    ChatChunk, ChatClient, ChatRequest, ChatResponse, ChunkAction, HookContext, HookError, OnChunk,
    PostResponse, PreRequest, openai_client,
};

struct Pii;
impl PreRequest for Pii {
    async fn pre_request(&self, _: &mut ChatRequest, _: &mut HookContext) -> Result<(), HookError> {
        Ok(())
    }
}

struct Keywords;
impl OnChunk for Keywords {
    type State = String;
    fn on_chunk(
        &self,
        _: &mut ChatChunk,
        _: &mut String,
        _: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        Ok(ChunkAction::Pass)
    }
}

struct AuditLog;
impl PostResponse for AuditLog {
    async fn post_response(
        &self,
        _: &mut ChatResponse,
        _: &mut HookContext,
    ) -> Result<(), HookError> {
        Ok(())
    }
}

#[openai_client(pre_request = Self::stamp, on_chunk = Self::count, post_response = Self::check_reply)]
pub(crate) struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
    #[pre_request]
    pii: Pii,
    #[on_chunk]
    words: Keywords,
    #[post_response]
    audit: AuditLog,
    chunks: Arc<AtomicUsize>,
}

impl Guarded {
    async fn stamp(&self, req: &mut ChatRequest, _: &mut HookContext) -> Result<(), HookError> {
        req.temperature = Some(0.0);
        Ok(())
    }

    fn count(&self, _: &mut ChatChunk, _: &HookContext) -> Result<ChunkAction, HookError> {
        self.chunks.fetch_add(1, Ordering::Relaxed);
        Ok(ChunkAction::Pass)
    }

    async fn check_reply(
        &self,
        _: &mut ChatResponse,
        _: &mut HookContext,
    ) -> Result<(), HookError> {
        Ok(())
    }
}

fn is_client(_: &impl ChatClient) {}

#[test]
fn compiles_and_runs() {
    let guarded = Guarded {
        client: Client::with_config(OpenAIConfig::new().with_api_base("http://127.0.0.1:9/v1")),
        pii: Pii,
        words: Keywords,
        audit: AuditLog,
        chunks: Arc::default(),
    };
    is_client(&guarded);
}
