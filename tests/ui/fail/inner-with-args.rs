use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::openai_client;

#[openai_client]
struct Guarded {
    #[inner(shared)]
    client: Client<OpenAIConfig>,
}

fn main() {}
