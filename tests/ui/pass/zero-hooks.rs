use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::{ChatClient, openai_client};

/// Wraps a client with no hooks: still a `ChatClient`.
#[openai_client]
struct Plain {
    #[inner]
    client: Client<OpenAIConfig>,
}

fn takes(_: impl ChatClient) {}

fn main() {
    takes(Plain { client: Client::with_config(OpenAIConfig::new()) });
}
