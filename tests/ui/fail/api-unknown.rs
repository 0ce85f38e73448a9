use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::openai_client;

#[openai_client(api = completions)]
struct Unknown {
    #[inner]
    client: Client<OpenAIConfig>,
}

#[openai_client(api = chat, api = responses)]
struct Twice {
    #[inner]
    client: Client<OpenAIConfig>,
}

#[openai_client(api = "responses")]
struct Quoted {
    #[inner]
    client: Client<OpenAIConfig>,
}

fn main() {}
