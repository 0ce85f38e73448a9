use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::{ChatRequest, HookContext, HookError, openai_client};

#[openai_client(pre_request = Self::stamp)]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
}

impl Guarded {
    // Pre-request hooks are `async`.
    fn stamp(&self, _req: &mut ChatRequest, _cx: &mut HookContext) -> Result<(), HookError> {
        Ok(())
    }
}

fn main() {}
