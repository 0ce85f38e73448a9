use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::{ChatRequest, HookContext, HookError, PreRequest, openai_client};

struct Pii;
impl PreRequest for Pii {
    async fn pre_request(&self, _: &mut ChatRequest, _: &mut HookContext) -> Result<(), HookError> {
        Ok(())
    }
}

#[openai_client]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
    #[pre_request(name = "pii")]
    emails: Pii,
    #[pre_request(name = "pii")]
    phones: Pii,
}

fn main() {}
