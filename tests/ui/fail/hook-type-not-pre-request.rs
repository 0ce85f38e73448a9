use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::openai_client;

struct Pii;

#[openai_client]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
    #[pre_request]
    pii: Pii,
}

fn main() {}
