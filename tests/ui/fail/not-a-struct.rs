use openai_hooks::openai_client;

#[openai_client]
fn guarded() {}

fn main() {
    guarded();
}
