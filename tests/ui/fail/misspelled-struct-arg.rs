use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::openai_client;

#[openai_client(post_reponse = Self::audit)]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
}

fn main() {}
