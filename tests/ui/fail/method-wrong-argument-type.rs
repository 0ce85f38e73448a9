use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::{ChatRequest, HookContext, HookError, openai_client};

#[openai_client(post_response = Self::audit)]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
}

impl Guarded {
    // Copied from a pre-request hook: a post-response hook gets the reply.
    async fn audit(&self, _req: &mut ChatRequest, _cx: &mut HookContext) -> Result<(), HookError> {
        Ok(())
    }
}

fn main() {}
