use openai_hooks::openai_client;

#[openai_client]
union Guarded {
    a: u32,
    b: f32,
}

fn main() {}
