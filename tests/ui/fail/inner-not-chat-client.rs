use openai_hooks::openai_client;

struct Settings {
    base_url: String,
}

#[openai_client]
struct Guarded {
    #[inner]
    client: Settings,
}

fn main() {}
