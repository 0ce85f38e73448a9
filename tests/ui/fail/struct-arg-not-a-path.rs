use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::openai_client;

#[openai_client(pre_request = 3)]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
}

fn main() {}
