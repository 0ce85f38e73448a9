use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::{ChatChunk, ChunkAction, HookContext, HookError, openai_client};

#[openai_client(on_chunk = Self::count)]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
}

impl Guarded {
    // Chunk hooks are synchronous.
    async fn count(&self, _: &mut ChatChunk, _: &HookContext) -> Result<ChunkAction, HookError> {
        Ok(ChunkAction::Pass)
    }
}

fn main() {}
