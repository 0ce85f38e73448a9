//! Hook failures through the local server: failure policies, panics caught
//! at the hook boundary (the same client keeps serving, even calls in
//! flight at the time), and per-hook time limits ([`HookTimeout`]).
//!
//! Each hook misbehaves only when the user text asks it to, so one client
//! serves good and bad calls side by side.

use std::time::Duration;

use futures::StreamExt;
use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::hooks::{HookTimedOut, HookTimeout};
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks::{
    ChatChunk, ChatClient, ChatRequest, ChatResponse, ChunkAction, ClientError, HookContext,
    HookError, OnChunk, PostResponse, PreRequest, Stage, openai_client,
};
use serde_json::json;

/// What the user text asks the hooks to do.
fn wants(req: &ChatRequest, word: &str) -> bool {
    serde_json::to_string(&req.messages).unwrap().contains(word)
}

/// Fails, panics or hangs when the request says `<name>:fail`,
/// `<name>:panic` or `<name>:hang`.
struct Moody {
    name: &'static str,
}

impl Moody {
    async fn act(&self, req: &ChatRequest) -> Result<(), HookError> {
        if wants(req, &format!("{}:fail", self.name)) {
            return Err(HookError::failed(format!("{} is down", self.name)));
        }
        if wants(req, &format!("{}:panic", self.name)) {
            panic!("{} blew up", self.name);
        }
        if wants(req, &format!("{}:hang", self.name)) {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Ok(())
    }
}

impl PreRequest for Moody {
    async fn pre_request(
        &self,
        req: &mut ChatRequest,
        _: &mut HookContext,
    ) -> Result<(), HookError> {
        self.act(req).await
    }
}

/// Remembers the request so the post-response side can act on it too.
#[derive(Clone)]
struct Asked(String);

/// Post-response: acts on the request's text, recorded by `Recall`.
struct MoodyAfter {
    name: &'static str,
}

impl PostResponse for MoodyAfter {
    async fn post_response(
        &self,
        _: &mut ChatResponse,
        cx: &mut HookContext,
    ) -> Result<(), HookError> {
        let asked = cx.extensions().get::<Asked>().cloned().unwrap();
        let req: ChatRequest = serde_json::from_value(
            json!({"model": "m", "messages": [{"role": "user", "content": asked.0}]}),
        )
        .unwrap();
        Moody { name: self.name }.act(&req).await
    }
}

/// Records the request's text for the post-response hooks.
struct Recall;

impl PreRequest for Recall {
    async fn pre_request(
        &self,
        req: &mut ChatRequest,
        cx: &mut HookContext,
    ) -> Result<(), HookError> {
        let text = serde_json::to_string(&req.messages).unwrap();
        cx.extensions_mut().insert(Asked(text));
        Ok(())
    }
}

/// Panics on a chunk whose text contains `boom`.
struct ChunkBomb;

impl OnChunk for ChunkBomb {
    type State = ();
    fn on_chunk(
        &self,
        chunk: &mut ChatChunk,
        _: &mut (),
        _: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        if chunk.content().is_some_and(|t| t.contains("boom")) {
            panic!("chunk bomb went off");
        }
        Ok(ChunkAction::Pass)
    }
}

#[openai_client]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
    #[pre_request]
    recall: Recall,
    #[pre_request(name = "strict")]
    strict: HookTimeout<Moody>,
    #[pre_request(fail_open, name = "lenient")]
    lenient: HookTimeout<Moody>,
    #[post_response(name = "audit")]
    audit: HookTimeout<MoodyAfter>,
    #[on_chunk(name = "bomb")]
    bomb: ChunkBomb,
}

const LIMIT: Duration = Duration::from_millis(200);

fn guarded(server: &LocalServer) -> Guarded {
    Guarded {
        client: Client::with_config(OpenAIConfig::new().with_api_base(server.base_url())),
        recall: Recall,
        strict: HookTimeout::new(Moody { name: "strict" }, LIMIT),
        lenient: HookTimeout::new(Moody { name: "lenient" }, LIMIT),
        audit: HookTimeout::new(MoodyAfter { name: "audit" }, LIMIT),
        bomb: ChunkBomb,
    }
}

fn request(text: &str) -> ChatRequest {
    serde_json::from_value(json!({"model": "m", "messages": [{"role": "user", "content": text}]}))
        .unwrap()
}

fn hook_error(err: ClientError) -> HookError {
    match err {
        ClientError::Hook(h) => h,
        other => panic!("expected a hook error, got {other:?}"),
    }
}

/// The same client still answers a plain call.
async fn still_serves(client: &Guarded) {
    let reply = client.create(request("all good")).await.unwrap();
    assert_eq!(reply.content(), Some("all good"));
}

#[tokio::test]
async fn fail_closed_stops_the_call_fail_open_skips_the_hook() {
    let server = LocalServer::start().await.unwrap();
    let client = guarded(&server);

    let err = hook_error(client.create(request("strict:fail")).await.unwrap_err());
    assert!(matches!(err, HookError::Failed { .. }), "{err:?}");
    assert_eq!((err.hook(), err.stage()), ("strict", Stage::PreRequest));
    assert!(server.requests().is_empty(), "nothing was sent");

    let reply = client.create(request("lenient:fail")).await.unwrap();
    assert_eq!(reply.content(), Some("lenient:fail"));
    assert_eq!(server.requests().len(), 1, "a fail-open hook is skipped");

    let err = hook_error(client.create(request("audit:fail")).await.unwrap_err());
    assert_eq!((err.hook(), err.stage()), ("audit", Stage::PostResponse));
    still_serves(&client).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_panicking_hook_is_a_typed_error_and_the_client_keeps_serving() {
    let server = LocalServer::start().await.unwrap();
    let client = guarded(&server);

    for (text, hook, stage) in [
        ("strict:panic", "strict", Stage::PreRequest),
        ("audit:panic", "audit", Stage::PostResponse),
    ] {
        let err = hook_error(client.create(request(text)).await.unwrap_err());
        let HookError::Panicked { message, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!((err.hook(), err.stage()), (hook, stage));
        assert!(message.ends_with("blew up"), "{message}");
        still_serves(&client).await;
    }

    // A fail-open hook that panics is skipped like one that fails.
    let reply = client.create(request("lenient:panic")).await.unwrap();
    assert_eq!(reply.content(), Some("lenient:panic"));

    // A chunk hook that panics ends its stream after what it passed.
    server.push(Reply::text("safe then boom then more").chunks(3));
    let mut stream = client.create_stream(request("go")).await.unwrap();
    let mut texts = Vec::new();
    let mut error = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(c) => texts.push(c.content().unwrap_or_default().to_owned()),
            Err(e) => error = Some(hook_error(e)),
        }
    }
    let error = error.expect("the panic ended the stream");
    assert!(matches!(error, HookError::Panicked { .. }));
    assert_eq!((error.hook(), error.stage()), ("bomb", Stage::Chunk));
    assert_eq!(
        texts.concat(),
        "safe the",
        "only what came before the panic"
    );
    still_serves(&client).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_panic_does_not_disturb_calls_in_flight() {
    let server = LocalServer::start().await.unwrap();
    server.set_default(
        Reply::echo()
            .chunks(5)
            .chunk_delay(Duration::from_millis(5)),
    );
    let client = guarded(&server);
    let calls = (0..40).map(|i| {
        let client = &client;
        async move {
            let text = if i % 4 == 0 {
                "strict:panic".to_owned()
            } else {
                format!("call number {i}")
            };
            (i, client.create(request(&text)).await)
        }
    });
    let results = futures::future::join_all(calls).await;
    for (i, result) in results {
        if i % 4 == 0 {
            let err = hook_error(result.unwrap_err());
            assert!(matches!(err, HookError::Panicked { .. }), "{err:?}");
        } else {
            let text = format!("call number {i}");
            assert_eq!(result.unwrap().content(), Some(text.as_str()));
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_hook_over_its_time_limit_follows_its_policy() {
    let server = LocalServer::start().await.unwrap();
    let client = guarded(&server);

    let err = hook_error(client.create(request("strict:hang")).await.unwrap_err());
    let HookError::Failed { source, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        source.downcast_ref::<HookTimedOut>(),
        Some(&HookTimedOut { after: LIMIT })
    );
    assert_eq!((err.hook(), err.stage()), ("strict", Stage::PreRequest));
    assert!(server.requests().is_empty(), "nothing was sent");

    let reply = client.create(request("lenient:hang")).await.unwrap();
    assert_eq!(reply.content(), Some("lenient:hang"), "fail open: skipped");

    let err = hook_error(client.create(request("audit:hang")).await.unwrap_err());
    assert_eq!((err.hook(), err.stage()), ("audit", Stage::PostResponse));
    assert!(
        err.to_string().contains("did not finish within 200ms"),
        "{err}"
    );
    still_serves(&client).await;
    server.shutdown().await;
}
