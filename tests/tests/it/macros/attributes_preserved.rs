//! The struct comes out as written, minus the macro's own attributes: its
//! docs, derives, visibility, other attributes and field attributes stay.
#![deny(missing_docs)]

use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::{ChatRequest, HookContext, HookError, PreRequest, openai_client};

/// A hook that does nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Noop;
impl PreRequest for Noop {
    async fn pre_request(&self, _: &mut ChatRequest, _: &mut HookContext) -> Result<(), HookError> {
        Ok(())
    }
}

mod clients {
    use super::*;

    /// A documented client (`missing_docs` is denied: the docs survive).
    #[openai_client]
    #[derive(Debug, Clone)]
    #[must_use]
    pub(crate) struct Documented {
        /// The wrapped client.
        #[inner]
        pub(crate) client: Client<OpenAIConfig>,
        /// A hook with documentation and another attribute.
        #[pre_request]
        #[allow(dead_code)]
        pub(crate) noop: Noop,
        /// A plain field.
        pub label: &'static str,
    }
}

#[test]
fn compiles_and_runs() {
    let client = Client::with_config(OpenAIConfig::new().with_api_base("http://127.0.0.1:9/v1"));
    let a = clients::Documented {
        client,
        noop: Noop,
        label: "a",
    };
    // `Clone` and `Debug` were derived.
    let b = a.clone();
    assert_eq!((&b.noop, b.label), (&Noop, "a"));
    assert!(format!("{b:?}").contains("label: \"a\""));
}
