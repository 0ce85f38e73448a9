use std::sync::atomic::{AtomicUsize, Ordering};

use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::{
    ChatChunk, ChatClient, ChatRequest, ChatResponse, ChunkAction, HookContext, HookError,
    openai_client,
};

/// Hooks written as methods, named in the attribute, one of them fail-open.
#[openai_client(
    pre_request = Self::stamp,
    on_chunk = Self::count,
    post_response(Self::audit, fail_open),
)]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
    chunks: AtomicUsize,
}

impl Guarded {
    async fn stamp(&self, req: &mut ChatRequest, _cx: &mut HookContext) -> Result<(), HookError> {
        req.temperature = Some(0.2);
        Ok(())
    }

    fn count(&self, _chunk: &mut ChatChunk, _cx: &HookContext) -> Result<ChunkAction, HookError> {
        self.chunks.fetch_add(1, Ordering::Relaxed);
        Ok(ChunkAction::Pass)
    }

    async fn audit(&self, _resp: &mut ChatResponse, _cx: &mut HookContext) -> Result<(), HookError> {
        Ok(())
    }
}

fn takes(_: impl ChatClient) {}

fn main() {
    takes(Guarded { client: Client::with_config(OpenAIConfig::new()), chunks: AtomicUsize::new(0) });
}
