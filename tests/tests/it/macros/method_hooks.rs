//! Hooks written as methods: `async fn`, a `fn` returning `impl Future`, the
//! `kind(Self::method, options)` form, and a generic struct.

use std::future::Future;

use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::{
    ChatChunk, ChatClient, ChatRequest, ChatResponse, ChunkAction, HookContext, HookError,
    openai_client,
};

#[openai_client(
    pre_request = Self::stamp,
    pre_request(Self::route, fail_open),
    on_chunk(Self::count, name = "counter", fail_open),
    post_response = Self::check,
)]
pub(crate) struct Methods<C> {
    #[inner]
    client: C,
    model: String,
}

impl<C: Sync> Methods<C> {
    async fn stamp(&self, req: &mut ChatRequest, cx: &mut HookContext) -> Result<(), HookError> {
        cx.extensions_mut().insert(req.messages.len());
        Ok(())
    }

    // Written out as `impl Future` on purpose: the macro accepts that form too.
    #[expect(clippy::manual_async_fn)]
    fn route<'a>(
        &'a self,
        req: &'a mut ChatRequest,
        _: &'a mut HookContext,
    ) -> impl Future<Output = Result<(), HookError>> + Send + 'a {
        async move {
            req.model.clone_from(&self.model);
            Ok(())
        }
    }

    fn count(&self, chunk: &mut ChatChunk, _: &HookContext) -> Result<ChunkAction, HookError> {
        Ok(if chunk.choices.is_empty() {
            ChunkAction::Drop
        } else {
            ChunkAction::Pass
        })
    }

    async fn check(&self, resp: &mut ChatResponse, _: &mut HookContext) -> Result<(), HookError> {
        if resp.choices.is_empty() {
            return Err(HookError::tripwire("empty reply"));
        }
        Ok(())
    }
}

fn is_client(_: &impl ChatClient) {}

#[test]
fn compiles_and_runs() {
    let client = Client::with_config(OpenAIConfig::new().with_api_base("http://127.0.0.1:9/v1"));
    is_client(&Methods {
        client,
        model: "gpt-4o-mini".into(),
    });
}
