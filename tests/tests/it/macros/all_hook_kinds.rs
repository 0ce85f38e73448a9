use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::telemetry::Telemetry;
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

struct Words;
impl OnChunk for Words {
    type State = String;
    fn on_chunk(
        &self,
        _: &mut ChatChunk,
        _: &mut String,
        _: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        Ok(ChunkAction::Pass)
    }
    fn on_end(&self, held: &mut String, _: &HookContext) -> Result<Option<ChatChunk>, HookError> {
        let _ = std::mem::take(held);
        Ok(None)
    }
}

struct Audit;
impl PostResponse for Audit {
    async fn post_response(
        &self,
        _: &mut ChatResponse,
        _: &mut HookContext,
    ) -> Result<(), HookError> {
        Ok(())
    }
}

/// Every hook kind, several of one kind, options, a hook shared through an
/// `Arc`, one value serving three stages, and plain fields.
#[openai_client]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
    #[pre_request]
    pii: Pii,
    #[pre_request(fail_open, name = "second-pii")]
    pii_again: Arc<Pii>,
    #[on_chunk]
    words: Words,
    #[on_chunk(fail_open)]
    more_words: Words,
    #[post_response(name = "audit-log")]
    audit: Audit,
    #[pre_request]
    #[on_chunk]
    #[post_response]
    telemetry: Telemetry,
    stats: Arc<AtomicUsize>,
}

fn takes(_: impl ChatClient) {}

#[test]
fn compiles_and_runs() {
    let guarded = Guarded {
        client: Client::with_config(OpenAIConfig::new()),
        pii: Pii,
        pii_again: Arc::new(Pii),
        words: Words,
        more_words: Words,
        audit: Audit,
        telemetry: Telemetry::new(),
        stats: Arc::default(),
    };
    // A plain field stays a plain field.
    assert_eq!(Arc::strong_count(&guarded.stats), 1);
    takes(guarded);
}
