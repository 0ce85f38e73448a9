use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::guardrails::{GuardrailError, Keywords};
use openai_hooks::model::OpenAIModel;
use openai_hooks::openai_client;

#[openai_client]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
    #[post_response]
    words: Result<Keywords, GuardrailError>,
}

fn main() {
    // `Keywords::new(..)` returns a `Result`: the `?` is missing.
    let words = Keywords::new(["acme"]);
    let client = Guarded { client: Client::with_config(OpenAIConfig::new()), words };
    let _model = OpenAIModel::builder("gpt-4o-mini").client(client).build();
}
