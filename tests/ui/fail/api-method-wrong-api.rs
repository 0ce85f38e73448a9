use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::{ChatRequest, HookContext, HookError, openai_client};

// A Responses client, with a method written for Chat requests.
#[openai_client(api = responses, pre_request = Self::stamp)]
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
