use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::openai_client;

struct Audit;

#[openai_client]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
    #[pre_request]
    #[post_response]
    audit: Audit,
}

fn main() {}
