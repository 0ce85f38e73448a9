use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::{ChatResponse, HookContext, HookError, openai_client};

#[openai_client(post_response = Self::audit)]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
}

impl Guarded {
    // The reply is `&mut ChatResponse`.
    async fn audit(&self, _resp: &ChatResponse, _cx: &mut HookContext) -> Result<(), HookError> {
        Ok(())
    }
}

fn main() {}
