//! Generic parameters with defaults, a lifetime, a const parameter and a
//! where-clause survive; hooks and the inner client may be generic.

use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::Arc;

use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::{
    ChatChunk, ChatClient, ChatRequest, ChunkAction, DynChatClient, HookContext, HookError,
    OnChunk, PreRequest, openai_client,
};

#[derive(Clone)]
pub(crate) struct Pii;
impl PreRequest for Pii {
    async fn pre_request(&self, _: &mut ChatRequest, _: &mut HookContext) -> Result<(), HookError> {
        Ok(())
    }
}

struct Keywords;
impl OnChunk for Keywords {
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

/// The client of the design document: the inner client's type defaults to
/// async-openai's.
#[openai_client]
pub(crate) struct Guarded<'k, C = Client<OpenAIConfig>, P = Pii, T = (), const N: usize = 4>
where
    P: Clone,
{
    #[inner]
    client: C,
    #[pre_request]
    pii: P,
    /// Borrowed: `&H` is a chunk hook when `H` is.
    #[on_chunk]
    words: &'k Keywords,
    stats: Arc<[u64; N]>,
    tag: PhantomData<T>,
}

/// Inline bounds, and an inner client chosen at run time.
#[openai_client]
struct Outer<'k, T: Debug + Send + Sync> {
    #[inner]
    inner: Guarded<'k, Arc<dyn DynChatClient>>,
    tag: T,
}

fn is_client(_: &impl ChatClient) {}

#[test]
fn compiles_and_runs() {
    let words = Keywords;
    // Every default taken.
    let guarded: Guarded<'_> = Guarded {
        client: Client::with_config(OpenAIConfig::new().with_api_base("http://127.0.0.1:9/v1")),
        pii: Pii,
        words: &words,
        stats: Arc::new([0; 4]),
        tag: PhantomData,
    };
    assert_eq!(guarded.stats.len(), 4);
    is_client(&guarded);

    // A generated client wraps another one.
    let outer: Guarded<'_, Guarded<'_>, Pii, String, 2> = Guarded {
        client: guarded,
        pii: Pii,
        words: &words,
        stats: Arc::new([0; 2]),
        tag: PhantomData,
    };
    is_client(&outer);

    let dynamic: Arc<dyn DynChatClient> = Arc::new(Client::with_config(OpenAIConfig::new()));
    let outer = Outer {
        inner: Guarded {
            client: dynamic,
            pii: Pii,
            words: &words,
            stats: Arc::new([0; 4]),
            tag: PhantomData,
        },
        tag: 7u8,
    };
    assert_eq!(outer.tag, 7);
    is_client(&outer);
}
