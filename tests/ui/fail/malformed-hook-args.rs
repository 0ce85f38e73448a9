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
    #[pre_request(fail_opn)]
    pii: Pii,
    #[pre_request(name = pii2)]
    pii2: Pii,
    #[pre_request = "pii3"]
    pii3: Pii,
}

fn main() {}
