//! Client sources, proved through the local server: which client served
//! each request (a header unique to each client instance, read from the
//! server's log) and how many TCP connections that took.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use openai_hooks::async_openai::Client;
use openai_hooks::async_openai::config::OpenAIConfig;
use openai_hooks::model::{
    ClientArgs, ClientSource, Message, ModelError, OpenAIModel, StreamEvent,
};
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks::{ChatClient, ChatRequest, HookContext, HookError, PreRequest, openai_client};
use schemars::JsonSchema;
use serde::Deserialize;

/// How a test calls the model.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Stream,
    Complete,
    Structured,
}

const MODES: [Mode; 3] = [Mode::Stream, Mode::Complete, Mode::Structured];

#[derive(Debug, Deserialize, JsonSchema, PartialEq)]
struct Answer {
    value: u32,
}

/// A client whose every request carries `x-client: <id>`.
fn tagged_client(server: &LocalServer, id: usize) -> Client<OpenAIConfig> {
    let config = OpenAIConfig::new()
        .with_api_base(server.base_url())
        .with_api_key("k")
        .with_header("x-client", id.to_string())
        .unwrap();
    Client::with_config(config)
}

/// One call in `mode`; the server must be scripted for it.
async fn call<S: ClientSource>(model: &OpenAIModel<S>, server: &LocalServer, mode: Mode) {
    let messages = [Message::user("hi")];
    match mode {
        Mode::Structured => {
            server.push(Reply::text(r#"{"value": 42}"#));
            let answer: Answer = model.structured_output(&messages, None).await.unwrap();
            assert_eq!(answer, Answer { value: 42 });
        }
        Mode::Stream | Mode::Complete => {
            model.update_config(openai_hooks::model::ConfigUpdate {
                stream: Some(matches!(mode, Mode::Stream)),
                ..Default::default()
            });
            server.push(Reply::text("ok").chunks(2));
            let mut events = std::pin::pin!(model.stream(&messages, &[], None, None));
            let mut stopped = false;
            while let Some(e) = events.next().await {
                stopped |= matches!(e.unwrap(), StreamEvent::MessageStop { .. });
            }
            assert!(stopped);
        }
    }
}

/// The `x-client` header of every request the server saw.
fn clients_seen(server: &LocalServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| r.headers.get("x-client").cloned().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn fixed_one_client_one_connection_for_twenty_requests() {
    for mode in MODES {
        let server = LocalServer::start().await.unwrap();
        let model = OpenAIModel::builder("gpt-4o-mini")
            .client(tagged_client(&server, 7))
            .build()
            .unwrap();
        for _ in 0..20 {
            call(&model, &server, mode).await;
        }
        assert_eq!(clients_seen(&server), vec!["7"; 20], "{mode:?}");
        assert_eq!(
            server.connections_accepted(),
            1,
            "{mode:?}: one warm connection"
        );
        server.shutdown().await;
    }
}

#[tokio::test]
async fn several_models_share_one_injected_client() {
    let server = LocalServer::start().await.unwrap();
    let client = Arc::new(tagged_client(&server, 3));
    let a = OpenAIModel::builder("model-a")
        .shared_client(client.clone())
        .build()
        .unwrap();
    let b = OpenAIModel::builder("model-b")
        .shared_client(client.clone())
        .build()
        .unwrap();
    call(&a, &server, Mode::Stream).await;
    call(&b, &server, Mode::Complete).await;
    drop((a, b));
    // The models never closed it: it still serves.
    server.push(Reply::text("still here"));
    let req: ChatRequest = serde_json::from_value(serde_json::json!({
        "model": "m", "messages": [{"role": "user", "content": "hi"}]
    }))
    .unwrap();
    assert_eq!(
        client.create(req).await.unwrap().content(),
        Some("still here")
    );
    assert_eq!(server.connections_accepted(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn ephemeral_a_new_client_and_connection_per_request() {
    for mode in MODES {
        let server = LocalServer::start().await.unwrap();
        let model = OpenAIModel::builder("gpt-4o-mini")
            .client_args(
                ClientArgs::new()
                    .base_url(server.base_url())
                    .api_key("k")
                    .header("x-client", "eph"),
            )
            .build()
            .unwrap();
        for _ in 0..5 {
            call(&model, &server, mode).await;
        }
        assert_eq!(server.requests().len(), 5);
        assert_eq!(
            server.connections_accepted(),
            5,
            "{mode:?}: a connection per request"
        );
        server.shutdown().await;
    }
}

#[tokio::test]
async fn factory_called_once_per_request() {
    for mode in MODES {
        let server = LocalServer::start().await.unwrap();
        let made = Arc::new(AtomicUsize::new(0));
        let counter = made.clone();
        let base = server.base_url();
        let model = OpenAIModel::builder("gpt-4o-mini")
            .factory(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let config = OpenAIConfig::new()
                    .with_api_base(&base)
                    .with_header("x-client", n.to_string())
                    .map_err(|e| ModelError::Config(e.to_string()))?;
                Ok(Client::with_config(config))
            })
            .build()
            .unwrap();
        for _ in 0..4 {
            call(&model, &server, mode).await;
        }
        assert_eq!(made.load(Ordering::SeqCst), 4, "{mode:?}");
        assert_eq!(clients_seen(&server), ["0", "1", "2", "3"], "{mode:?}");
        server.shutdown().await;
    }
}

#[test]
fn both_a_client_and_client_args_is_an_error() {
    let client = Client::with_config(OpenAIConfig::new());
    let err = OpenAIModel::builder("m")
        .client_args(ClientArgs::new().api_key("sk-secret-1234567890"))
        .client(client)
        .build()
        .unwrap_err();
    assert!(matches!(err, ModelError::Config(_)), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("sk-secret"));
    let debug = format!(
        "{:?}",
        ClientArgs::new()
            .api_key("sk-secret-1234567890")
            .header("authorization", "Bearer sk-other")
    );
    assert!(!debug.contains("sk-"), "{debug}");
}

/// A pre-request hook that stops every request mentioning a codename.
struct NoCodenames;

impl PreRequest for NoCodenames {
    async fn pre_request(
        &self,
        req: &mut ChatRequest,
        _: &mut HookContext,
    ) -> Result<(), HookError> {
        if serde_json::to_string(&req.messages)
            .unwrap_or_default()
            .contains("Falcon")
        {
            return Err(
                HookError::tripwire("codename").with_info(serde_json::json!({"term": "Falcon"}))
            );
        }
        Ok(())
    }
}

#[openai_client]
struct Guarded {
    #[inner]
    client: Client<OpenAIConfig>,
    #[pre_request]
    codenames: NoCodenames,
}

#[tokio::test]
async fn a_generated_client_is_injected_without_boxing_and_its_tripwire_passes_through() {
    let server = LocalServer::start().await.unwrap();
    let model: OpenAIModel<openai_hooks::model::Fixed<Guarded>> =
        OpenAIModel::builder("gpt-4o-mini")
            .client(Guarded {
                client: tagged_client(&server, 1),
                codenames: NoCodenames,
            })
            .build()
            .unwrap();
    call(&model, &server, Mode::Stream).await;
    let messages = [Message::user("Tell me about Project Falcon")];
    let mut events = std::pin::pin!(model.stream(&messages, &[], None, None));
    let err = events.next().await.unwrap().unwrap_err();
    assert!(err.is_tripwire(), "{err:?}");
    let ModelError::Hook(hook) = &err else {
        unreachable!()
    };
    assert_eq!(hook.hook(), "codenames");
    assert_eq!(server.requests().len(), 1, "the stopped request never left");
    let err = model
        .structured_output::<Answer>(&messages, None)
        .await
        .unwrap_err();
    assert!(err.is_tripwire());
    server.shutdown().await;
}

/// A slow stream: enough time to shut a runtime down in the middle.
fn slow_stream() -> Reply {
    Reply::text("a b c d e f g h i j k l")
        .chunks(12)
        .chunk_delay(Duration::from_millis(10))
}

/// Runs `body` on a `current_thread` runtime of its own thread.
fn on_own_runtime<T: Send + 'static>(
    body: impl Future<Output = T> + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(body)
    })
}

#[test]
fn per_runtime_one_client_per_runtime_and_one_shutting_down_leaves_the_other_working() {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = Arc::new(server_rt.block_on(LocalServer::start()).unwrap());
    let made = Arc::new(AtomicUsize::new(0));
    let counter = made.clone();
    let base = server.base_url();
    let model = Arc::new(
        OpenAIModel::builder("gpt-4o-mini")
            .per_runtime(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let config = OpenAIConfig::new()
                    .with_api_base(&base)
                    .with_header("x-client", format!("rt{n}"))
                    .map_err(|e| ModelError::Config(e.to_string()))?;
                Ok(Client::with_config(config))
            })
            .build()
            .unwrap(),
    );
    // Both runtimes call at once, so nothing is queued per call: the
    // default reply serves text and structured calls alike.
    server.set_default(Reply::text(r#"{"value": 1}"#).chunks(2));
    let run = |calls: usize| {
        let model = model.clone();
        on_own_runtime(async move {
            for i in 0..calls {
                let mode = MODES[i % 3];
                if let Mode::Structured = mode {
                    let _: Answer = model
                        .structured_output(&[Message::user("x")], None)
                        .await
                        .unwrap();
                } else {
                    let messages = [Message::user("x")];
                    let mut events = std::pin::pin!(model.stream(&messages, &[], None, None));
                    while let Some(e) = events.next().await {
                        e.unwrap();
                    }
                }
            }
        })
    };
    // Two runtimes at once: two clients.
    let (a, b) = (run(6), run(6));
    a.join().unwrap();
    b.join().unwrap();
    assert_eq!(made.load(Ordering::SeqCst), 2, "one client per runtime");
    let mut seen = clients_seen(&server);
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["rt0", "rt1"]);
    // Both runtimes are gone: so are their clients.
    assert_eq!(
        model.client_source().runtimes(),
        0,
        "no client outlives its runtime"
    );
    // A new runtime gets a new client and works.
    run(3).join().unwrap();
    assert_eq!(made.load(Ordering::SeqCst), 3);
    server_rt.block_on(async move { Arc::into_inner(server).unwrap().shutdown().await });
}

fn request() -> ChatRequest {
    serde_json::from_value(
        serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
    )
    .unwrap()
}

/// Runtime A makes a request (opening a pooled connection) and keeps
/// running until told to stop; then runtime B streams, and A shuts down in
/// the middle of B's stream. `a` is A's request; `b` is B's stream, which
/// sends the stop signal after its third piece and returns how many pieces
/// it got, or its error.
fn cross_runtime_round<A, B, FB>(server: &LocalServer, a: A, b: B) -> Result<usize, String>
where
    A: Future<Output = ()> + Send + 'static,
    B: FnOnce(tokio::sync::oneshot::Sender<()>) -> FB + Send + 'static,
    FB: Future<Output = Result<usize, String>>,
{
    let (opened_tx, opened_rx) = std::sync::mpsc::channel::<()>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    server.push(Reply::text("warm up"));
    let runtime_a = on_own_runtime(async move {
        a.await;
        opened_tx.send(()).unwrap();
        // Keep this runtime (and the connection task it drives) alive
        // until B is mid-stream; bounded so the test always ends.
        let _ = tokio::time::timeout(Duration::from_secs(10), stop_rx).await;
    });
    opened_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("A made its request");
    server.push(slow_stream());
    let runtime_b = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            tokio::time::timeout(Duration::from_secs(20), b(stop_tx))
                .await
                .unwrap_or_else(|_| Err("B's stream hung".into()))
        })
    });
    runtime_a.join().unwrap();
    runtime_b.join().unwrap()
}

/// Counts `stream`'s items, sending `stop` after the third; an error ends
/// the count with a message saying where.
async fn count_with_stop<T, E: std::fmt::Display>(
    stream: impl futures::Stream<Item = Result<T, E>>,
    stop: tokio::sync::oneshot::Sender<()>,
) -> Result<usize, String> {
    let mut stream = std::pin::pin!(stream);
    let mut stop = Some(stop);
    let mut n = 0;
    while let Some(item) = stream.next().await {
        item.map_err(|e| format!("after {n} items: {e}"))?;
        n += 1;
        if n == 3
            && let Some(stop) = stop.take()
        {
            let _ = stop.send(());
        }
    }
    Ok(n)
}

#[test]
fn one_plain_client_across_runtimes_fails_when_the_first_runtime_shuts_down() {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = server_rt.block_on(LocalServer::start()).unwrap();
    for round in 0..5 {
        let shared = Arc::new(tagged_client(&server, 0));
        let accepted = server.connections_accepted();
        let for_a = shared.clone();
        let outcome = cross_runtime_round(
            &server,
            async move {
                for_a.create(request()).await.unwrap();
            },
            move |stop| async move {
                let stream = shared
                    .create_stream(request())
                    .await
                    .map_err(|e| e.to_string())?;
                count_with_stop(stream, stop).await
            },
        );
        assert_eq!(
            server.connections_accepted() - accepted,
            1,
            "B reused A's pooled connection"
        );
        // What happens: B's stream runs over the connection that A's
        // runtime drives; when A shuts down that connection goes with it,
        // and B's stream fails part way through.
        let err = outcome.expect_err("B's stream fails once A's runtime is gone");
        assert!(err.starts_with("after 3 items"), "round {round}: {err}");
    }
    server_rt.block_on(server.shutdown());
}

#[test]
fn per_runtime_never_fails_in_the_same_scenario() {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = server_rt.block_on(LocalServer::start()).unwrap();
    let base = server.base_url();
    let model = Arc::new(
        OpenAIModel::builder("gpt-4o-mini")
            .per_runtime(move || {
                Ok(Client::with_config(
                    OpenAIConfig::new().with_api_base(&base),
                ))
            })
            .build()
            .unwrap(),
    );
    for round in 0..100 {
        let (for_a, for_b) = (model.clone(), model.clone());
        let outcome = cross_runtime_round(
            &server,
            async move {
                let messages = [Message::user("x")];
                let mut events = std::pin::pin!(for_a.stream(&messages, &[], None, None));
                while let Some(e) = events.next().await {
                    e.unwrap();
                }
            },
            move |stop| async move {
                let messages = [Message::user("x")];
                let texts = for_b.stream(&messages, &[], None, None).filter(|e| {
                    std::future::ready(matches!(e, Ok(StreamEvent::ContentBlockDelta(_)) | Err(_)))
                });
                count_with_stop(texts, stop).await
            },
        );
        assert_eq!(outcome, Ok(12), "round {round}");
    }
    assert_eq!(model.client_source().runtimes(), 0);
    server_rt.block_on(server.shutdown());
}
