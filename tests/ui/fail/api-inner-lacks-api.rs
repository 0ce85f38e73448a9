use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::openai_client;

// A generated client serves Chat alone unless told otherwise.
#[openai_client]
struct ChatOnly {
    #[inner]
    client: Client<OpenAIConfig>,
}

#[openai_client(api = responses)]
struct Outer {
    #[inner]
    client: ChatOnly,
}

fn main() {}
