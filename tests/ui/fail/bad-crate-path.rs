// A `crate = ...` that is not a quoted path is reported, and nothing else:
// no stand-in impl names a path that may not exist.
use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::openai_client;

#[openai_client(crate = openai_hooks)]
struct Unquoted {
    #[inner]
    client: Client<OpenAIConfig>,
}

#[openai_client(crate = "openai-hooks")]
struct Hyphen {
    #[inner]
    client: Client<OpenAIConfig>,
}

#[openai_client(crate = "openai_hooks::<T>")]
struct Generic {
    #[inner]
    client: Client<OpenAIConfig>,
}

#[openai_client(crate = "::openai_hooks", pre_request = 3, crate = "::openai_hooks")]
struct Twice {
    #[inner]
    client: Client<OpenAIConfig>,
}

fn main() {}
