use std::fmt::Debug;
use std::sync::Arc;

use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::{
    ChatChunk, ChatClient, ChatRequest, ChunkAction, DynChatClient, HookContext, HookError,
    OnChunk, PreRequest, openai_client,
};

pub struct Stamp;
impl PreRequest for Stamp {
    async fn pre_request(&self, _: &mut ChatRequest, _: &mut HookContext) -> Result<(), HookError> {
        Ok(())
    }
}

pub struct Pass;
impl OnChunk for Pass {
    type State = ();
    fn on_chunk(&self, _: &mut ChatChunk, _: &mut (), _: &HookContext) -> Result<ChunkAction, HookError> {
        Ok(ChunkAction::Pass)
    }
}

/// A default inner type, a generic hook and a where-clause.
#[openai_client]
pub struct Guarded<C = Client<OpenAIConfig>, H = Stamp>
where
    H: Send + Sync,
{
    #[inner]
    client: C,
    #[pre_request]
    hook: H,
    #[on_chunk]
    chunks: Pass,
    label: &'static str,
}

/// Nests: a generated client is a `ChatClient`, so it can be the inner one.
#[openai_client]
struct Outer<T: Debug + Send + Sync> {
    #[inner]
    inner: Guarded<Arc<dyn DynChatClient>>,
    tag: T,
}

fn takes(_: impl ChatClient) {}

fn main() {
    let direct: Guarded = Guarded {
        client: Client::with_config(OpenAIConfig::new()),
        hook: Stamp,
        chunks: Pass,
        label: "direct",
    };
    let _ = direct.label;
    takes(direct);

    let dynamic: Arc<dyn DynChatClient> = Arc::new(Client::with_config(OpenAIConfig::new()));
    let outer = Outer {
        inner: Guarded { client: dynamic, hook: Stamp, chunks: Pass, label: "dyn" },
        tag: 7u8,
    };
    let _ = outer.tag;
    takes(outer);
}
