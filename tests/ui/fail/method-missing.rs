use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::{ChatRequest, HookContext, HookError, openai_client};

#[openai_client(pre_request = Self::stampp)]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
}

impl Guarded {
    async fn stamp(&self, _: &mut ChatRequest, _: &mut HookContext) -> Result<(), HookError> {
        Ok(())
    }
}

fn main() {}
