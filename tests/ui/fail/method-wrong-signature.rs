use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::{ChatRequest, HookError, openai_client};

#[openai_client(pre_request = Self::stamp)]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
}

impl Guarded {
    // Missing the `cx: &mut HookContext` argument.
    async fn stamp(&self, _req: &mut ChatRequest) -> Result<(), HookError> {
        Ok(())
    }
}

fn main() {}
