use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::openai_client;

#[openai_client(pre_request = 3)]
struct NotAPath {
    #[inner]
    client: Client<OpenAIConfig>,
}

#[openai_client(pre_request)]
struct NoMethod {
    #[inner]
    client: Client<OpenAIConfig>,
}

#[openai_client(prerequest = Self::stamp)]
struct UnknownKey {
    #[inner]
    client: Client<OpenAIConfig>,
}

fn main() {}
