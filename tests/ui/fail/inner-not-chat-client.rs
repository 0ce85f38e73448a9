use openai_hooks::async_openai::config::OpenAIConfig;
use openai_hooks::openai_client;

// The config, not the client built from it.
#[openai_client]
struct Guarded {
    #[inner]
    client: OpenAIConfig,
}

fn main() {}
