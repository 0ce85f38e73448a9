use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::{ChatChunk, ChunkAction, HookError, openai_client};

#[openai_client(on_chunk = Self::count)]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
}

impl Guarded {
    /// Forgets the context parameter.
    fn count(&self, _chunk: &mut ChatChunk) -> Result<ChunkAction, HookError> {
        Ok(ChunkAction::Pass)
    }
}

fn main() {}
