use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::openai_client;

#[openai_client]
struct Guarded {
    #[inner]
    primary: Client<OpenAIConfig>,
    #[inner]
    fallback: Client<OpenAIConfig>,
}

fn main() {}
