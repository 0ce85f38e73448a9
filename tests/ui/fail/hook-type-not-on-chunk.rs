use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::{ChatRequest, HookContext, HookError, PreRequest, openai_client};

/// A pre-request hook, used as a chunk hook by mistake.
struct MaskEmails;

impl PreRequest for MaskEmails {
    async fn pre_request(&self, _: &mut ChatRequest, _: &mut HookContext) -> Result<(), HookError> {
        Ok(())
    }
}

#[openai_client]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
    #[on_chunk]
    pii: MaskEmails,
}

fn main() {}
