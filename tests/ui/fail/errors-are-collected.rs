// Every mistake is reported at once, and nothing else: uses of the struct
// do not add errors of their own.
use openai_hooks::openai_client;
use openai_hooks::ChatClient;

struct Pii;

#[openai_client(on_chunk = Self::count, inner = Self::client)]
struct Guarded {
    #[pre_requst]
    pii: Pii,
    #[post_response(fail_closed)]
    audit: Pii,
}

fn is_client(_: &impl ChatClient) {}

// Generic too: still one error, and uses of it compile.
#[openai_client]
struct Generic<C> {
    client: C,
}

fn generic_is_client<C: Send + Sync>(g: Generic<C>) {
    is_client(&g);
}

fn main() {
    is_client(&Guarded { pii: Pii, audit: Pii });
}
