//! `crate = "..."`: generated code reaches the runtime by the given path,
//! for a dependency renamed or re-exported under another name.

use openai_hooks as oh;

use oh::async_openai::{Client, config::OpenAIConfig};
use oh::{
    ChatChunk, ChatClient, ChatRequest, ChatResponse, ChunkAction, HookContext, HookError, OnChunk,
    PostResponse, PreRequest,
};

/// A facade that re-exports the runtime, as a crate of shared clients might.
mod facade {
    pub(crate) use openai_hooks as hooks;
}

struct Hook;
impl PreRequest for Hook {
    async fn pre_request(&self, _: &mut ChatRequest, _: &mut HookContext) -> Result<(), HookError> {
        Ok(())
    }
}
impl PostResponse for Hook {
    async fn post_response(
        &self,
        _: &mut ChatResponse,
        _: &mut HookContext,
    ) -> Result<(), HookError> {
        Ok(())
    }
}
impl OnChunk for Hook {
    type State = ();
    fn on_chunk(
        &self,
        _: &mut ChatChunk,
        _: &mut (),
        _: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        Ok(ChunkAction::Pass)
    }
}

// Every kind, as a field and as a method.
#[oh::openai_client(
    crate = "oh",
    pre_request = Self::stamp,
    post_response = Self::audit,
    on_chunk = Self::count,
)]
struct Renamed {
    #[inner]
    client: Client<OpenAIConfig>,
    #[pre_request]
    #[post_response]
    #[on_chunk]
    hook: Hook,
}

impl Renamed {
    async fn stamp(&self, _: &mut ChatRequest, _: &mut HookContext) -> Result<(), HookError> {
        Ok(())
    }
    async fn audit(&self, _: &mut ChatResponse, _: &mut HookContext) -> Result<(), HookError> {
        Ok(())
    }
    fn count(&self, _: &mut ChatChunk, _: &HookContext) -> Result<ChunkAction, HookError> {
        Ok(ChunkAction::Pass)
    }
}

// A path through a module, and generics.
#[facade::hooks::openai_client(crate = "crate::macros::crate_path::facade::hooks")]
struct Facade<C, H> {
    #[inner]
    client: C,
    #[pre_request(fail_open)]
    hook: H,
}

// The default, written out.
#[oh::openai_client(crate = "::openai_hooks")]
struct Absolute {
    #[inner]
    client: Client<OpenAIConfig>,
}

fn is_client(_: &impl ChatClient) {}

#[test]
fn compiles_and_runs() {
    let client = || Client::with_config(OpenAIConfig::new().with_api_base("http://127.0.0.1:9/v1"));
    is_client(&Renamed {
        client: client(),
        hook: Hook,
    });
    is_client(&Facade {
        client: client(),
        hook: Hook,
    });
    is_client(&Absolute { client: client() });
}

/// Generic over its client and hook, both APIs, by a renamed path.
#[oh::openai_client(crate = "oh", api = both)]
struct RenamedBoth<C, H> {
    #[inner]
    client: C,
    #[on_chunk]
    #[pre_request]
    hook: H,
}

#[test]
fn a_generic_client_serves_both_apis_by_a_renamed_path() {
    use oh::ResponsesClient;
    use oh::guardrails::Keywords;
    fn both<T: ChatClient + ResponsesClient>(_: &T) {}
    let client = RenamedBoth {
        client: Client::with_config(OpenAIConfig::new()),
        hook: Keywords::new(["x"]).unwrap(),
    };
    both(&client);
}
