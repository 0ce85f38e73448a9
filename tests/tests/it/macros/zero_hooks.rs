//! No hooks at all: the client is its inner client plus plain fields.

use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::{ChatClient, openai_client};

#[openai_client]
struct Plain {
    #[inner]
    client: Client<OpenAIConfig>,
    label: &'static str,
}

fn is_client(_: &impl ChatClient) {}

#[test]
fn compiles_and_runs() {
    let client = Client::with_config(OpenAIConfig::new().with_api_base("http://127.0.0.1:9/v1"));
    let plain = Plain {
        client,
        label: "plain",
    };
    is_client(&plain);
    assert_eq!(plain.label, "plain");
}
