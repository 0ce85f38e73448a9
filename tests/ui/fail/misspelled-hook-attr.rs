use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::openai_client;

struct Pii;
struct Keywords;

#[openai_client]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
    #[pre_requst]
    pii: Pii,
    #[onchunk]
    words: Keywords,
}

fn main() {}
