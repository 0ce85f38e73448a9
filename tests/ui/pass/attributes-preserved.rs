use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::openai_client;

mod inner {
    use super::*;

    /// Docs, derives, visibility and other attributes survive.
    #[openai_client]
    #[derive(Debug, Clone)]
    #[allow(dead_code)]
    pub struct Guarded {
        /// The wrapped client.
        #[inner]
        pub client: Client<OpenAIConfig>,
        /// A plain field with its own attribute.
        #[allow(unused)]
        pub(crate) label: String,
    }
}

fn main() {
    let g = inner::Guarded { client: Client::with_config(OpenAIConfig::new()), label: "a".into() };
    // `Clone` and `Debug` were derived, and the fields kept their visibility.
    let copy = g.clone();
    let printed = format!("{copy:?}");
    assert!(printed.contains("Guarded"));
    assert_eq!(copy.label, "a");
}
