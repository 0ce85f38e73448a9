//! `fail_open` and `name = "..."` on field hooks, in either order, and
//! empty parentheses.

use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::{
    ChatChunk, ChatClient, ChatRequest, ChatResponse, ChunkAction, HookContext, HookError, OnChunk,
    PostResponse, PreRequest, openai_client,
};

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

#[openai_client]
struct Options {
    #[inner]
    client: Client<OpenAIConfig>,
    #[pre_request(fail_open)]
    a: Hook,
    #[pre_request(name = "second")]
    b: Hook,
    #[post_response(name = "audit", fail_open)]
    c: Hook,
    #[on_chunk(fail_open, name = "keywords")]
    d: Hook,
    #[on_chunk()]
    e: Hook,
    #[on_chunk(fail_open)]
    r#type: Hook,
}

fn is_client(_: &impl ChatClient) {}

#[test]
fn compiles_and_runs() {
    let client = Client::with_config(OpenAIConfig::new().with_api_base("http://127.0.0.1:9/v1"));
    is_client(&Options {
        client,
        a: Hook,
        b: Hook,
        c: Hook,
        d: Hook,
        e: Hook,
        r#type: Hook,
    });
}
