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
    BlockDelta, ClientArgs, ClientSource, Message, ModelError, OpenAIModel, StreamEvent,
};
use openai_hooks::server::{LocalServer, RecordedRequest, Reply};
use openai_hooks::transport::RetryPolicy;
use openai_hooks::{
    ChatClient, ChatRequest, ClientError, HookContext, HookError, PreRequest, openai_client,
};
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

/// The reply every test call gets: valid text for a stream and for a
/// structured `Answer` alike.
fn answer_reply() -> Reply {
    Reply::text(r#"{"value": 42}"#).chunks(2)
}

/// One call in `mode`, scripting the server's reply for it.
async fn call<S: ClientSource>(model: &OpenAIModel<S>, server: &LocalServer, mode: Mode) {
    server.push(answer_reply());
    call_served(model, mode).await;
}

/// One call in `mode`, to a server that answers it with [`answer_reply`]
/// (queued or its default); fails the test unless the call succeeds.
async fn call_served<S: ClientSource>(model: &OpenAIModel<S>, mode: Mode) {
    let messages = [Message::user("hi")];
    match mode {
        Mode::Structured => {
            let answer: Answer = model.structured_output(&messages, None).await.unwrap();
            assert_eq!(answer, Answer { value: 42 });
        }
        Mode::Stream | Mode::Complete => {
            model.update_config(openai_hooks::model::ConfigUpdate {
                stream: Some(matches!(mode, Mode::Stream)),
                ..Default::default()
            });
            let mut events = std::pin::pin!(model.stream(&messages, &[], None, None));
            let mut stopped = false;
            // Bounded: the reply is a handful of events.
            for _ in 0..64 {
                let Some(e) = events.next().await else { break };
                stopped |= matches!(e.unwrap(), StreamEvent::MessageStop { .. });
            }
            assert!(stopped, "{mode:?}: the reply never stopped");
        }
    }
}

/// Checks that each request was sent the way its mode asks: streamed with
/// usage, complete (no `stream` field), or structured (a complete reply with
/// a `json_schema` response format).
fn assert_sent_as(requests: &[RecordedRequest], modes: &[Mode]) {
    assert_eq!(requests.len(), modes.len());
    for (i, (r, mode)) in requests.iter().zip(modes).enumerate() {
        let body = &r.body;
        match mode {
            Mode::Stream => {
                assert_eq!(body["stream"], true, "request {i}: {mode:?}");
                assert_eq!(body["stream_options"]["include_usage"], true, "request {i}");
                assert!(body.get("response_format").is_none(), "request {i}");
            }
            Mode::Complete => {
                assert!(
                    body.get("stream").is_none(),
                    "request {i}: {mode:?}: {body}"
                );
                assert!(body.get("response_format").is_none(), "request {i}");
            }
            Mode::Structured => {
                assert!(
                    body.get("stream").is_none(),
                    "request {i}: {mode:?}: {body}"
                );
                assert_eq!(
                    body["response_format"]["type"], "json_schema",
                    "request {i}"
                );
            }
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
    slow_stream_with_gap(Duration::from_millis(10))
}

/// A slow stream with `gap` between its chunks.
fn slow_stream_with_gap(gap: Duration) -> Reply {
    Reply::text("a b c d e f g h i j k l")
        .chunks(12)
        .chunk_delay(gap)
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

/// What a worker runtime is asked to do.
enum Job {
    /// One call in this mode; the server answers it with its default reply.
    Call(Mode),
    /// A streamed call that reports its first text, waits for the signal,
    /// then reads the rest and reports the whole text (or its error).
    HeldStream(tokio::sync::oneshot::Receiver<()>),
}

/// What a worker reports back.
#[derive(Debug, PartialEq)]
enum Report {
    Done,
    FirstText,
    Streamed(Result<String, String>),
}

/// A thread with a `current_thread` runtime of its own that runs jobs until
/// its job channel is closed; then the runtime shuts down (it is dropped
/// before the thread ends).
struct Worker {
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
    reports: std::sync::mpsc::Receiver<Report>,
    thread: std::thread::JoinHandle<()>,
}

impl Worker {
    fn start<S: ClientSource + 'static>(model: Arc<OpenAIModel<S>>) -> Self {
        let (jobs, mut job_rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let (report_tx, reports) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                while let Some(job) = job_rx.recv().await {
                    let report = match job {
                        Job::Call(mode) => {
                            call_served(&model, mode).await;
                            Report::Done
                        }
                        Job::HeldStream(resume) => {
                            model.update_config(openai_hooks::model::ConfigUpdate {
                                stream: Some(true),
                                ..Default::default()
                            });
                            let messages = [Message::user("x")];
                            let mut events =
                                std::pin::pin!(model.stream(&messages, &[], None, None));
                            let mut text = String::new();
                            let mut resume = Some(resume);
                            let mut outcome = Ok(());
                            // Bounded: the slow stream has a dozen pieces.
                            for _ in 0..256 {
                                let Some(event) = events.next().await else {
                                    break;
                                };
                                match event {
                                    Ok(StreamEvent::ContentBlockDelta(BlockDelta::Text(t))) => {
                                        text.push_str(&t);
                                        if let Some(resume) = resume.take() {
                                            report_tx.send(Report::FirstText).unwrap();
                                            resume.await.unwrap();
                                        }
                                    }
                                    Ok(_) => {}
                                    Err(e) => {
                                        outcome = Err(format!("after {text:?}: {e}"));
                                        break;
                                    }
                                }
                            }
                            Report::Streamed(outcome.map(|()| text))
                        }
                    };
                    report_tx.send(report).unwrap();
                }
            });
            // The runtime shuts down here, with every task on it.
            drop(runtime);
        });
        Self {
            jobs,
            reports,
            thread,
        }
    }

    /// The worker's next report (a bounded wait, so a stuck worker fails
    /// the test instead of hanging it).
    fn report(&self) -> Report {
        self.reports
            .recv_timeout(Duration::from_secs(30))
            .expect("the worker reported (a worker that panicked says why above)")
    }

    fn call(&self, mode: Mode) {
        self.jobs.send(Job::Call(mode)).unwrap();
        assert_eq!(self.report(), Report::Done, "{mode:?}");
    }

    /// Closes the job channel and waits until the thread, and so its
    /// runtime, is gone.
    fn shut_down(self) {
        drop(self.jobs);
        if let Err(panic) = self.thread.join() {
            std::panic::resume_unwind(panic);
        }
    }
}

#[test]
fn per_runtime_one_client_per_runtime_and_one_shutting_down_leaves_the_other_working() {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = server_rt.block_on(LocalServer::start()).unwrap();
    server.set_default(answer_reply());
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

    // Two runtimes, both alive: each mode on A, then on B. A asks first, so
    // its client is rt0.
    let a = Worker::start(model.clone());
    let b = Worker::start(model.clone());
    for mode in MODES {
        a.call(mode);
        b.call(mode);
    }
    assert_eq!(made.load(Ordering::SeqCst), 2, "one client per runtime");
    assert_eq!(model.client_source().runtimes(), 2);
    assert_eq!(
        clients_seen(&server),
        ["rt0", "rt1", "rt0", "rt1", "rt0", "rt1"],
        "each runtime's calls went through its own client"
    );
    let both: Vec<Mode> = MODES.iter().flat_map(|&m| [m, m]).collect();
    assert_sent_as(&server.requests(), &both);
    assert_eq!(
        server.connections_accepted(),
        2,
        "each client kept its one pooled connection"
    );

    // B is in the middle of a stream when A shuts down.
    server.push(slow_stream());
    let (resume, resume_rx) = tokio::sync::oneshot::channel();
    b.jobs.send(Job::HeldStream(resume_rx)).unwrap();
    assert_eq!(b.report(), Report::FirstText);
    a.shut_down();
    assert_eq!(
        model.client_source().runtimes(),
        1,
        "A's client went with A's runtime"
    );
    assert!(
        server_rt.block_on(server.wait_for_connections_open(1, Duration::from_secs(10))),
        "A's connection closed; B's stays open"
    );
    resume.send(()).unwrap();
    assert_eq!(
        b.report(),
        Report::Streamed(Ok("a b c d e f g h i j k l".into())),
        "B's stream went on to the end"
    );

    // B keeps serving, in every mode, with the client it had.
    let before = server.requests().len();
    let modes: Vec<Mode> = MODES.iter().chain(&MODES).copied().collect();
    for &mode in &modes {
        b.call(mode);
    }
    let after = server.requests();
    assert_sent_as(&after[before..], &modes);
    assert_eq!(clients_seen(&server)[before - 1..], ["rt1"; 7]);
    assert_eq!(made.load(Ordering::SeqCst), 2, "B made no new client");
    assert_eq!(
        server.connections_accepted(),
        2,
        "B's calls all reused its own connection"
    );
    b.shut_down();
    // Both runtimes are gone: so are their clients.
    assert_eq!(
        model.client_source().runtimes(),
        0,
        "no client outlives its runtime"
    );

    // A new runtime gets a new client and works.
    let c = Worker::start(model.clone());
    c.call(Mode::Stream);
    c.shut_down();
    assert_eq!(made.load(Ordering::SeqCst), 3);
    assert_eq!(
        clients_seen(&server).last().map(String::as_str),
        Some("rt2")
    );
    server_rt.block_on(server.shutdown());
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
/// it got, or its error. `gap` is the time between the stream's pieces.
fn cross_runtime_round<A, B, FB>(
    server: &LocalServer,
    gap: Duration,
    a: A,
    b: B,
) -> Result<usize, String>
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
    server.push(slow_stream_with_gap(gap));
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
            // B must not get a fourth piece before A's runtime is gone:
            // room for that on a loaded machine, where other tests of this
            // binary run beside this one.
            Duration::from_millis(100),
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

/// One plain client shared across two runtimes, the first runtime dropped,
/// then the second one's next request.
///
/// What happens, every round, in every mode: the request succeeds. A's
/// pooled connection was driven by a task on A, so it closed when A was
/// dropped (the server sees it close), and the pool, finding it closed at
/// checkout, discards it and opens a new one: B pays a second connection
/// and nothing fails. The failure `PerRuntime` avoids is the one above:
/// a request that is *using* A's connection when A shuts down.
#[test]
fn one_plain_client_across_runtimes_first_runtime_dropped_then_the_next_request_on_the_second() {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = server_rt.block_on(LocalServer::start()).unwrap();
    let current_thread = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    for mode in MODES {
        for round in 0..5 {
            let model = OpenAIModel::builder("gpt-4o-mini")
                .client(tagged_client(&server, round))
                .build()
                .unwrap();
            let accepted = server.connections_accepted();
            let seen = server.requests().len();
            let a = current_thread();
            a.block_on(call(&model, &server, mode));
            drop(a);
            assert!(
                server_rt.block_on(server.wait_for_connections_open(0, Duration::from_secs(10))),
                "{mode:?} round {round}: A's pooled connection closed with A"
            );
            let b = current_thread();
            b.block_on(call(&model, &server, mode));
            drop(b);
            assert_eq!(
                server.connections_accepted() - accepted,
                2,
                "{mode:?} round {round}: B's request went on a new connection"
            );
            assert_eq!(
                clients_seen(&server)[seen..],
                [round.to_string(), round.to_string()],
                "{mode:?} round {round}: both through the one shared client"
            );
            assert_sent_as(&server.requests()[seen..], &[mode, mode]);
        }
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
            Duration::from_millis(10),
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

/// The value of header `name` on request `r`.
fn header<'a>(r: &'a RecordedRequest, name: &str) -> Option<&'a str> {
    r.headers.get(name).map(String::as_str)
}

#[tokio::test]
async fn client_args_send_organization_project_key_and_headers() {
    let server = LocalServer::start().await.unwrap();
    let with_all = OpenAIModel::builder("gpt-4o-mini")
        .client_args(
            ClientArgs::new()
                .base_url(server.base_url())
                .api_key("sk-args-0123456789")
                .organization("org-acme")
                .project("proj_blue")
                .header("x-team", "search"),
        )
        .build()
        .unwrap();
    for mode in MODES {
        call(&with_all, &server, mode).await;
    }
    let requests = server.take_requests();
    assert_sent_as(&requests, &MODES);
    for r in &requests {
        assert_eq!(r.path, "/v1/chat/completions");
        assert!(
            header(r, "authorization") == Some("Bearer sk-args-0123456789"),
            "the API key was not sent as a bearer token"
        );
        assert_eq!(header(r, "openai-organization"), Some("org-acme"));
        assert_eq!(header(r, "openai-project"), Some("proj_blue"));
        assert_eq!(header(r, "x-team"), Some("search"));
    }
    // Without them, neither header is sent.
    let bare = OpenAIModel::builder("gpt-4o-mini")
        .client_args(
            ClientArgs::new()
                .base_url(server.base_url())
                .api_key("sk-args-0123456789"),
        )
        .build()
        .unwrap();
    call(&bare, &server, Mode::Stream).await;
    let r = &server.take_requests()[0];
    assert_eq!(header(r, "openai-organization"), None);
    assert_eq!(header(r, "openai-project"), None);
    assert_eq!(header(r, "x-team"), None);
    server.shutdown().await;
}

/// The error of one call in `mode` that is expected to fail.
async fn call_error<S: ClientSource>(model: &OpenAIModel<S>, mode: Mode) -> ModelError {
    let messages = [Message::user("hi")];
    if let Mode::Structured = mode {
        return model
            .structured_output::<Answer>(&messages, None)
            .await
            .unwrap_err();
    }
    model.update_config(openai_hooks::model::ConfigUpdate {
        stream: Some(matches!(mode, Mode::Stream)),
        ..Default::default()
    });
    let mut events = std::pin::pin!(model.stream(&messages, &[], None, None));
    // Bounded: the call fails before its reply.
    for _ in 0..64 {
        match events.next().await {
            Some(Ok(_)) => {}
            Some(Err(e)) => return e,
            None => break,
        }
    }
    panic!("{mode:?}: the call did not fail");
}

#[tokio::test]
async fn client_args_timeout_limits_each_request() {
    let server = LocalServer::start().await.unwrap();
    let args = ClientArgs::new().base_url(server.base_url()).api_key("k");
    let limited = OpenAIModel::builder("gpt-4o-mini")
        .client_args(args.clone().timeout(Duration::from_millis(100)))
        .build()
        .unwrap();
    for mode in MODES {
        // The server holds its reply back far longer than the limit.
        server.push(answer_reply().first_byte_delay(Duration::from_secs(2)));
        let err = call_error(&limited, mode).await;
        assert!(
            matches!(err, ModelError::Client(ClientError::Timeout { .. })),
            "{mode:?}: {err:?}"
        );
    }
    assert_sent_as(&server.take_requests(), &MODES);
    // The same args without the limit wait for the reply.
    let unlimited = OpenAIModel::builder("gpt-4o-mini")
        .client_args(args)
        .build()
        .unwrap();
    server.push(answer_reply().first_byte_delay(Duration::from_millis(300)));
    call_served(&unlimited, Mode::Complete).await;
    server.shutdown().await;
}

/// Client args for the HTTPS server `server`, trusting `root` (a PEM) if
/// given; no retries, so a refused handshake fails at once.
fn https_args(server: &LocalServer, root: Option<&str>) -> ClientArgs {
    let args = ClientArgs::new()
        .base_url(server.base_url())
        .api_key("k")
        .retry(RetryPolicy::none());
    match root {
        Some(pem) => args.root_certificate_pem(pem),
        None => args,
    }
}

/// Whether `err` is a transport error that a certificate check caused.
fn refused_certificate(err: &ModelError) -> bool {
    matches!(
        err,
        ModelError::Client(ClientError::Transport { message })
            if message.to_ascii_lowercase().contains("certificate")
    )
}

#[tokio::test]
async fn ephemeral_over_https_trusts_an_extra_root_on_every_call_each_on_its_own_connection() {
    let server = LocalServer::start_tls().await.unwrap();
    let pem = server.certificate_pem().unwrap().to_owned();
    let model = OpenAIModel::builder("gpt-4o-mini")
        .client_args(https_args(&server, Some(&pem)).header("x-client", "eph"))
        .build()
        .unwrap();
    let mut modes = Vec::new();
    for round in 0..2 {
        for mode in MODES {
            call(&model, &server, mode).await;
            modes.push(mode);
            assert_eq!(
                server.connections_accepted(),
                modes.len() as u64,
                "round {round}, {mode:?}: each call on a connection of its own"
            );
        }
    }
    assert_sent_as(&server.requests(), &modes);
    assert_eq!(clients_seen(&server), vec!["eph"; modes.len()]);
    server.shutdown().await;
}

#[tokio::test]
async fn ephemeral_over_https_without_the_root_is_refused_with_a_transport_error() {
    let server = LocalServer::start_tls().await.unwrap();
    let other = LocalServer::start_tls().await.unwrap();
    let pem = server.certificate_pem().unwrap().to_owned();
    let untrusting = OpenAIModel::builder("gpt-4o-mini")
        .client_args(https_args(&server, None))
        .build()
        .unwrap();
    // Another server's certificate is no help either.
    let trusting_another = OpenAIModel::builder("gpt-4o-mini")
        .client_args(https_args(&server, other.certificate_pem()))
        .build()
        .unwrap();
    for mode in MODES {
        for (who, model) in [
            ("no root", &untrusting),
            ("another root", &trusting_another),
        ] {
            let err = call_error(model, mode).await;
            assert!(refused_certificate(&err), "{who}, {mode:?}: {err:?}");
        }
    }
    assert!(server.requests().is_empty(), "nothing reached the handler");
    // Roots added to a clone apply to the clone only, and the first
    // configuration built for the clone's source does not stick to it.
    let base = https_args(&server, None);
    let with_root = base.clone().root_certificate_pem(pem.clone());
    let model = OpenAIModel::builder("gpt-4o-mini")
        .client_args(with_root)
        .build()
        .unwrap();
    call(&model, &server, Mode::Complete).await;
    let model = OpenAIModel::builder("gpt-4o-mini")
        .client_args(base)
        .build()
        .unwrap();
    let err = call_error(&model, Mode::Complete).await;
    assert!(refused_certificate(&err), "{err:?}");
    assert_eq!(server.requests().len(), 1);
    // The same args, built from once they trust the wrong root, then with
    // the right one added: the new root applies.
    let args = https_args(&server, other.certificate_pem());
    let err = call_error(
        &OpenAIModel::builder("m")
            .client_args(args.clone())
            .build()
            .unwrap(),
        Mode::Complete,
    )
    .await;
    assert!(refused_certificate(&err), "{err:?}");
    let model = OpenAIModel::builder("gpt-4o-mini")
        .client_args(args.root_certificate_pem(pem))
        .build()
        .unwrap();
    call(&model, &server, Mode::Complete).await;
    assert_eq!(server.requests().len(), 2);
    server.shutdown().await;
    other.shutdown().await;
}

#[tokio::test]
async fn a_factory_on_the_shared_tls_configuration_makes_a_client_and_connection_per_call() {
    let server = LocalServer::start_tls().await.unwrap();
    let args = https_args(&server, server.certificate_pem());
    let base = server.base_url();
    let made = Arc::new(AtomicUsize::new(0));
    let counter = made.clone();
    let model = OpenAIModel::builder("gpt-4o-mini")
        .factory(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let http = args
                .http_client_builder()?
                .build()
                .map_err(|e| ModelError::Config(e.to_string()))?;
            let config = OpenAIConfig::new()
                .with_api_base(&base)
                .with_header("x-client", n.to_string())
                .map_err(|e| ModelError::Config(e.to_string()))?;
            Ok(Client::with_config(config).with_http_client(http))
        })
        .build()
        .unwrap();
    for mode in MODES {
        call(&model, &server, mode).await;
    }
    assert_eq!(made.load(Ordering::SeqCst), 3);
    assert_eq!(clients_seen(&server), ["0", "1", "2"]);
    assert_eq!(server.connections_accepted(), 3, "a connection per client");
    server.shutdown().await;
}

#[tokio::test]
async fn a_root_that_is_no_pem_certificate_is_a_config_error() {
    // No PEM section, an unfinished one, and one whose bytes are no
    // certificate.
    for pem in [
        "",
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n",
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n",
    ] {
        let args = ClientArgs::new().root_certificate_pem(pem);
        let err = args.build().unwrap_err();
        assert!(matches!(err, ModelError::Config(_)), "{pem:?}: {err:?}");
        let err = args.http_client_builder().unwrap_err();
        assert!(matches!(err, ModelError::Config(_)), "{pem:?}: {err:?}");
    }
    // A valid root first does not hide an invalid second one.
    let server = LocalServer::start_tls().await.unwrap();
    let valid = ClientArgs::new().root_certificate_pem(server.certificate_pem().unwrap());
    assert!(valid.build().is_ok());
    let err = valid.root_certificate_pem("junk").build().unwrap_err();
    assert!(matches!(err, ModelError::Config(_)), "{err:?}");
    assert!(err.to_string().contains("root certificate 2"), "{err}");
    server.shutdown().await;
}

/// Set in the environment of the child process that
/// `client_args_default_to_openai_api_key_and_openai_base_url` runs: the
/// base URL the child gives explicitly.
const CHILD_EXPLICIT_BASE: &str = "OPENAI_HOOKS_TESTS_EXPLICIT_BASE_URL";

/// The explicit key the child gives.
const CHILD_EXPLICIT_KEY: &str = "sk-explicit-args-0123456789";

/// The environment cannot be changed in this process (`set_var` is unsafe
/// and the crate forbids unsafe code), so this runs
/// `client_args_defaults_child` in a child process of this test binary with
/// `OPENAI_API_KEY` and `OPENAI_BASE_URL` set, and checks on the servers
/// what the child's requests carried.
#[test]
fn client_args_default_to_openai_api_key_and_openai_base_url() {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (from_env, explicit) = server_rt.block_on(async {
        (
            LocalServer::start().await.unwrap(),
            LocalServer::start().await.unwrap(),
        )
    });
    from_env.set_default(answer_reply());
    explicit.set_default(answer_reply());
    // A key made here, compared here, never printed.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let key = format!("sk-env-{}-{nanos}", std::process::id());
    // The test's path in this binary, without the crate's name.
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let child_test = format!("{module}::client_args_defaults_child");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            child_test.as_str(),
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env("OPENAI_API_KEY", &key)
        .env("OPENAI_BASE_URL", from_env.base_url())
        .env(CHILD_EXPLICIT_BASE, explicit.base_url())
        .env_remove("OPENAI_ADMIN_KEY")
        .env_remove("OPENAI_ORG_ID")
        .env_remove("OPENAI_PROJECT_ID")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: a child that hangs is killed and the test fails.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child test did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No settings: the key and base URL came from the environment.
    let requests = from_env.requests();
    assert_sent_as(&requests, &MODES);
    for r in &requests {
        assert_eq!(r.path, "/v1/chat/completions");
        let expected = format!("Bearer {key}");
        assert!(
            header(r, "authorization") == Some(expected.as_str()),
            "the key from OPENAI_API_KEY was not sent"
        );
        assert_eq!(header(r, "openai-organization"), None);
    }
    // Explicit settings win over the environment.
    let requests = explicit.requests();
    assert_sent_as(&requests, &MODES);
    for r in &requests {
        assert_eq!(r.path, "/v1/chat/completions");
        assert!(
            header(r, "authorization") == Some(format!("Bearer {CHILD_EXPLICIT_KEY}").as_str()),
            "the explicit key was not sent"
        );
    }
    server_rt.block_on(async {
        from_env.shutdown().await;
        explicit.shutdown().await;
    });
}

/// Runs only as the child of
/// `client_args_default_to_openai_api_key_and_openai_base_url`, which sets
/// its environment; run any other way, it returns at once.
#[tokio::test]
#[ignore = "run in a child process by client_args_default_to_openai_api_key_and_openai_base_url"]
async fn client_args_defaults_child() {
    let Ok(explicit_base) = std::env::var(CHILD_EXPLICIT_BASE) else {
        return;
    };
    // No key, no base URL: both from the environment.
    let defaults = OpenAIModel::builder("gpt-4o-mini").build().unwrap();
    for mode in MODES {
        call_served(&defaults, mode).await;
    }
    let explicit = OpenAIModel::builder("gpt-4o-mini")
        .client_args(
            ClientArgs::new()
                .api_key(CHILD_EXPLICIT_KEY)
                .base_url(explicit_base),
        )
        .build()
        .unwrap();
    for mode in MODES {
        call_served(&explicit, mode).await;
    }
}

#[tokio::test]
async fn dyn_models_of_different_clients_share_one_type() {
    use openai_hooks::model::DynModel;

    #[openai_client]
    struct Stamped {
        #[inner]
        client: Client<OpenAIConfig>,
        #[pre_request]
        stamp: Stamp,
    }
    struct Stamp;
    impl PreRequest for Stamp {
        async fn pre_request(
            &self,
            req: &mut ChatRequest,
            _: &mut HookContext,
        ) -> Result<(), HookError> {
            req.safety_identifier = Some("stamped".into());
            Ok(())
        }
    }

    let server = LocalServer::start().await.unwrap();
    // A plain client and a generated one, stored side by side.
    let models: Vec<Arc<DynModel>> = vec![
        Arc::new(
            OpenAIModel::builder("gpt-4o-mini")
                .dyn_client(tagged_client(&server, 1))
                .build()
                .unwrap(),
        ),
        Arc::new(
            OpenAIModel::builder("gpt-4o-mini")
                .dyn_client(Stamped {
                    client: tagged_client(&server, 2),
                    stamp: Stamp,
                })
                .build()
                .unwrap(),
        ),
    ];
    for model in &models {
        call(model, &server, Mode::Stream).await;
    }
    let sent = server.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].headers["x-client"], "1");
    assert!(sent[0].body.get("safety_identifier").is_none());
    assert_eq!(
        sent[1].body["safety_identifier"], "stamped",
        "the generated client's hook ran"
    );
    server.shutdown().await;
}
