use openai_hooks::openai_client;

#[openai_client]
struct Guarded;

fn main() {}
