use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::openai_client;

/// Meant as a hook, but implements nothing.
struct MaskEmails;

#[openai_client]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
    #[pre_request]
    pii: MaskEmails,
}

fn main() {}
