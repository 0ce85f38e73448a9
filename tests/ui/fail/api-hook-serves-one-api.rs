use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::{ChatRequest, HookContext, HookError, PreRequest, openai_client};

/// A pre-request hook for Chat requests only.
struct ChatOnly;

impl PreRequest for ChatOnly {
    async fn pre_request(&self, _: &mut ChatRequest, _: &mut HookContext) -> Result<(), HookError> {
        Ok(())
    }
}

// Both APIs: every hook must serve both.
#[openai_client(api = both)]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
    #[pre_request]
    check: ChatOnly,
}

fn main() {}
