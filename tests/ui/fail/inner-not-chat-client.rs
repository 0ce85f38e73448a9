use openai_hooks::openai_client;

#[openai_client]
struct Guarded {
    #[inner]
    client: reqwest::Client,
}

fn main() {}
