use std::rc::Rc;

use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::{ChatResponse, HookContext, HookError, openai_client};

#[openai_client(post_response = Self::audit)]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
}

impl Guarded {
    async fn audit(&self, _: &mut ChatResponse, _: &mut HookContext) -> Result<(), HookError> {
        let local = Rc::new(1);
        std::future::ready(()).await;
        drop(local);
        Ok(())
    }
}

fn main() {}
