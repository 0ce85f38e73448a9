use openai_hooks::openai_client;

#[openai_client]
union Guarded {
    raw: u64,
}

fn main() {}
