//! A macro-generated client with every hook kind, end to end through the
//! local server on 127.0.0.1.

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks::text::request_texts_mut;
use openai_hooks::{
    ChatChunk, ChatClient, ChatRequest, ChatResponse, ChunkAction, ClientError, HookContext,
    HookError, OnChunk, PostResponse, PreRequest, Stage, openai_client,
};
use serde_json::json;

type Log = Arc<Mutex<Vec<String>>>;

/// Records that it ran, and rewrites user text `from` → `to`.
struct Rewrite {
    name: &'static str,
    log: Log,
    from: &'static str,
    to: &'static str,
}

impl PreRequest for Rewrite {
    async fn pre_request(
        &self,
        req: &mut ChatRequest,
        _cx: &mut HookContext,
    ) -> Result<(), HookError> {
        self.log.lock().unwrap().push(format!("pre:{}", self.name));
        for (_, text) in request_texts_mut(req) {
            *text = text.replace(self.from, self.to);
        }
        Ok(())
    }
}

/// Trips when user text contains `word`.
struct Forbid {
    word: &'static str,
}

impl PreRequest for Forbid {
    async fn pre_request(
        &self,
        req: &mut ChatRequest,
        _cx: &mut HookContext,
    ) -> Result<(), HookError> {
        if request_texts_mut(req)
            .iter()
            .any(|(_, t)| t.contains(self.word))
        {
            return Err(HookError::tripwire("forbidden word").with_info(json!({"word": self.word})));
        }
        Ok(())
    }
}

/// Records that it ran, and appends `suffix` to the reply.
struct Suffix {
    name: &'static str,
    log: Log,
    suffix: &'static str,
}

impl PostResponse for Suffix {
    async fn post_response(
        &self,
        resp: &mut ChatResponse,
        _cx: &mut HookContext,
    ) -> Result<(), HookError> {
        self.log.lock().unwrap().push(format!("post:{}", self.name));
        if let Some(text) = resp.choices[0].message.content.as_mut() {
            text.push_str(self.suffix);
        }
        Ok(())
    }
}

/// Records each chunk it sees (first time per stream), upper-cases content,
/// and trips on `stop_at`.
struct Upper {
    name: &'static str,
    log: Log,
    stop_at: Option<&'static str>,
}

impl OnChunk for Upper {
    type State = u32;
    fn on_chunk(
        &self,
        chunk: &mut ChatChunk,
        seen: &mut u32,
        _cx: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        if *seen == 0 {
            self.log
                .lock()
                .unwrap()
                .push(format!("chunk:{}", self.name));
        }
        *seen += 1;
        if let Some(choice) = chunk.choices.first_mut()
            && let Some(text) = choice.delta.content.as_mut()
        {
            if self.stop_at.is_some_and(|s| text.contains(s)) {
                return Err(HookError::tripwire("stop word streamed"));
            }
            *text = text.to_uppercase();
        }
        Ok(ChunkAction::Pass)
    }
}

#[openai_client]
struct Guarded<C> {
    #[inner]
    client: C,
    #[pre_request]
    first: Rewrite,
    #[pre_request]
    forbid: Forbid,
    #[pre_request]
    second: Rewrite,
    #[on_chunk]
    upper: Upper,
    #[post_response]
    audit: Suffix,
    #[post_response]
    audit2: Suffix,
}

fn raw(server: &LocalServer) -> Client<OpenAIConfig> {
    Client::with_config(
        OpenAIConfig::new()
            .with_api_base(server.base_url())
            .with_api_key("test-key"),
    )
}

fn guarded(
    server: &LocalServer,
    log: &Log,
    stop_at: Option<&'static str>,
) -> Guarded<Client<OpenAIConfig>> {
    Guarded {
        client: raw(server),
        first: Rewrite {
            name: "first",
            log: log.clone(),
            from: "alpha",
            to: "beta",
        },
        forbid: Forbid { word: "forbidden" },
        second: Rewrite {
            name: "second",
            log: log.clone(),
            from: "beta",
            to: "gamma",
        },
        upper: Upper {
            name: "upper",
            log: log.clone(),
            stop_at,
        },
        audit: Suffix {
            name: "audit",
            log: log.clone(),
            suffix: " [1]",
        },
        audit2: Suffix {
            name: "audit2",
            log: log.clone(),
            suffix: " [2]",
        },
    }
}

fn request(text: &str) -> ChatRequest {
    serde_json::from_value(json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": text}],
    }))
    .unwrap()
}

async fn collect_text(client: &impl ChatClient, req: ChatRequest) -> (String, Option<ClientError>) {
    let mut stream = client.create_stream(req).await.unwrap();
    let mut text = String::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => text.push_str(chunk.content().unwrap_or_default()),
            Err(e) => return (text, Some(e)),
        }
    }
    (text, None)
}

#[tokio::test]
async fn create_runs_hooks_in_order_and_rewrites_both_ways() {
    let server = LocalServer::start().await.unwrap();
    server.push(Reply::text("hello there"));
    let log = Log::default();
    let client = guarded(&server, &log, None);

    let reply = client.create(request("say alpha")).await.unwrap();

    // Pre-request rewrites compose in declaration order: alpha → beta → gamma.
    let sent = server.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["messages"][0]["content"], "say gamma");
    // Post-response rewrites are what the caller gets, in declaration order.
    assert_eq!(reply.content(), Some("hello there [1] [2]"));
    assert_eq!(
        *log.lock().unwrap(),
        ["pre:first", "pre:second", "post:audit", "post:audit2"]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn create_stream_runs_chunk_hooks_before_the_caller() {
    let server = LocalServer::start().await.unwrap();
    server.push(Reply::text("one two three four").chunks(4));
    let log = Log::default();
    let client = guarded(&server, &log, None);

    let (text, err) = collect_text(&client, request("alpha")).await;

    assert!(err.is_none(), "{err:?}");
    assert_eq!(text, "ONE TWO THREE FOUR");
    assert_eq!(server.requests()[0].body["messages"][0]["content"], "gamma");
    assert_eq!(server.requests()[0].body["stream"], true);
    assert_eq!(
        *log.lock().unwrap(),
        ["pre:first", "pre:second", "chunk:upper"]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn pre_request_tripwire_means_nothing_is_sent() {
    let server = LocalServer::start().await.unwrap();
    let log = Log::default();
    let client = guarded(&server, &log, None);

    for result in [
        client.create(request("a forbidden thing")).await.map(drop),
        client
            .create_stream(request("a forbidden thing"))
            .await
            .map(drop),
    ] {
        let err = result.unwrap_err();
        let trip = err.tripwire().expect("a tripwire");
        assert_eq!(trip.hook, "forbid");
        assert_eq!(trip.stage, Stage::PreRequest);
        assert_eq!(trip.info["word"], "forbidden");
    }
    assert!(server.requests().is_empty());
    assert_eq!(
        server.connections_accepted(),
        0,
        "not even a connection was opened"
    );
    // The hook before the tripwire ran; the one after did not.
    assert_eq!(*log.lock().unwrap(), ["pre:first", "pre:first"]);
    server.shutdown().await;
}

#[tokio::test]
async fn chunk_tripwire_ends_the_stream_and_nothing_after_it_arrives() {
    let server = LocalServer::start().await.unwrap();
    // Slow enough that the reply is still in flight when the hook trips.
    let tail = " more".repeat(200);
    server.push(
        Reply::text(format!("safe words then # and secrets after{tail}"))
            .chunks(200)
            .chunk_delay(std::time::Duration::from_millis(5)),
    );
    let log = Log::default();
    let client = guarded(&server, &log, Some("#"));

    let mut stream = client.create_stream(request("go")).await.unwrap();
    let mut text = String::new();
    let mut after_error = 0;
    let mut error = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(c) if error.is_none() => text.push_str(c.content().unwrap_or_default()),
            Ok(_) => after_error += 1,
            Err(e) => error = Some(e),
        }
    }
    let error = error.expect("the stream ended with the tripwire");
    let trip = error.tripwire().expect("a tripwire");
    assert_eq!((trip.hook.as_ref(), trip.stage), ("upper", Stage::Chunk));
    assert_eq!(after_error, 0);
    assert!(!text.contains("SECRETS"), "{text}");
    assert!(!text.contains('#'), "{text}");
    assert!(text.starts_with("SAFE"), "{text}");
    drop(stream);
    assert!(
        server
            .wait_for_connections_open(0, std::time::Duration::from_secs(5))
            .await,
        "the upstream connection is released"
    );
    server.shutdown().await;
}

/// Every recorded stream replays through a pass-through hooked client
/// chunk for chunk as through the raw client.
#[tokio::test]
async fn every_fixture_replays_identically_through_a_pass_through_client() {
    #[openai_client]
    struct PassThrough<C> {
        #[inner]
        client: C,
        #[on_chunk]
        a: Noop,
        #[on_chunk]
        b: Noop,
    }
    struct Noop;
    impl OnChunk for Noop {
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

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stream");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let server = LocalServer::start().await.unwrap();
    let plain = raw(&server);
    let hooked = PassThrough {
        client: raw(&server),
        a: Noop,
        b: Noop,
    };
    for path in &names {
        let mut outcomes = Vec::new();
        for client in [&plain as &dyn openai_hooks::DynChatClient, &hooked] {
            server.push(Reply::fixture(path));
            let mut stream = client.create_stream(request("replay")).await.unwrap();
            let mut items = Vec::new();
            while let Some(item) = stream.next().await {
                items.push(item.map_err(|e| e.to_string()));
            }
            outcomes.push(items);
        }
        assert!(!outcomes[0].is_empty(), "{}", path.display());
        assert_eq!(outcomes[0], outcomes[1], "{}", path.display());
        let chunks = outcomes[0].iter().filter(|i| i.is_ok()).count();
        let recorded = std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("data: ") && *l != "data: [DONE]")
            .count();
        assert_eq!(
            chunks,
            recorded,
            "{} delivered every recorded chunk",
            path.display()
        );
    }
    server.shutdown().await;
}
