//! No API key ever appears in an error's `Display` or `Debug`, whatever the
//! server echoes back and whichever transport carried it; nor in the
//! `Debug` of the clients, models, client sources and settings that hold
//! it.

use std::time::Duration;

use futures::StreamExt;
use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::guardrails::pipeline::{Pipeline, PipelineClients};
use openai_hooks::guardrails::{LlmJudge, Moderation, SecretKeys};
use openai_hooks::middleware::Timeout;
use openai_hooks::model::{
    ClientArgs, ClientSource, Ephemeral, Factory, Fixed, Message, ModelError, OpenAIModel,
    PerRuntime,
};
use openai_hooks::server::{Fault, LocalServer, Reply};
use openai_hooks::transport::{RetryPolicy, Transport};
use openai_hooks::{ChatClient, ChatRequest, ClientError, openai_client};
use serde_json::json;

const KEY: &str = "sk-proj-Zx81bQ7mK2pL9vT4nR6sW3yH5jD0cF8gA1eU7iO2qN4";

fn config(base: String) -> OpenAIConfig {
    OpenAIConfig::new().with_api_base(base).with_api_key(KEY)
}

fn request() -> ChatRequest {
    serde_json::from_value(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .unwrap()
}

fn assert_clean(err: &ClientError) {
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(KEY), "key leaked: {text}");
        assert!(
            !text.contains(&KEY[8..30]),
            "part of the key leaked: {text}"
        );
    }
}

/// Each way a server can echo the key back: error message, error body that
/// is not OpenAI-shaped, a bad success body, a bad stream line.
fn echoing_replies() -> Vec<Reply> {
    vec![
        Reply::error(
            401,
            "invalid_api_key",
            format!("Incorrect API key provided: {KEY}."),
        ),
        Reply::raw(
            502,
            "text/html",
            format!("<html>bad gateway for Bearer {KEY}</html>"),
        ),
        Reply::raw(
            200,
            "application/json",
            format!("{{\"not\": \"a reply\", \"key\": \"{KEY}\""),
        ),
    ]
}

#[tokio::test]
async fn errors_never_show_the_key() {
    let server = LocalServer::start().await.unwrap();
    let default_client = Client::with_config(config(server.base_url()));
    let transport = Transport::builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let transport_client = transport.client(config(server.base_url()));

    let mut seen = 0;
    for reply in echoing_replies() {
        for client in [&default_client, &transport_client] {
            // As the default, so retries (async-openai's client retries 5xx)
            // meet the same reply.
            server.set_default(reply.clone());
            let err = client.create(request()).await.unwrap_err();
            assert_clean(&err);
            seen += 1;
        }
    }
    assert_eq!(seen, 6);
    server.shutdown().await;
}

#[tokio::test]
async fn stream_errors_never_show_the_key() {
    let server = LocalServer::start().await.unwrap();
    let client = Client::with_config(config(server.base_url()));
    server.push(Reply::raw(
        200,
        "text/event-stream",
        format!("data: {{\"choices\": [], \"id\": \"{KEY}\"\n\ndata: [DONE]\n\n"),
    ));
    let mut stream = client.create_stream(request()).await.unwrap();
    let mut errors = 0;
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            assert!(matches!(e, ClientError::Decode { .. }), "{e:?}");
            assert_clean(&e);
            errors += 1;
        }
    }
    assert_eq!(errors, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn transport_errors_never_show_the_key() {
    // A port nothing listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}/v1?api_key={KEY}");
    let transport = Transport::builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let err = transport
        .client(config(base))
        .create(request())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err:?}");
    assert_clean(&err);
}

// ------------------------------------------- Debug of clients and settings

/// Fails when `text` holds the key or a piece of it.
fn assert_no_key(what: &str, text: &str) {
    assert!(!text.contains(KEY), "{what}: key in {text}");
    assert!(
        !text.contains(&KEY[8..30]),
        "{what}: part of the key in {text}"
    );
}

/// `Debug` (plain and pretty) of `value`, checked for the key.
fn debug_clean(what: &str, value: &impl std::fmt::Debug) {
    assert_no_key(what, &format!("{value:?}"));
    assert_no_key(what, &format!("{value:#?}"));
}

/// Every text an error shows: `Display`, `Debug` and its sources', checked
/// for the key.
fn error_clean(what: &str, err: &(dyn std::error::Error + 'static)) {
    assert_no_key(what, &err.to_string());
    assert_no_key(what, &format!("{err:?}"));
    let mut source = err.source();
    while let Some(s) = source {
        assert_no_key(what, &s.to_string());
        assert_no_key(what, &format!("{s:?}"));
        source = s.source();
    }
}

/// A generated client over any inner client, with `Debug` derived: it shows
/// its inner client.
#[openai_client]
#[derive(Debug)]
struct Generated<C> {
    #[inner]
    inner: C,
    #[pre_request]
    #[on_chunk]
    secrets: SecretKeys,
}

const BUNDLE: &str = r#"{"version": 1,
    "input": {"version": 1, "guardrails": [
        {"name": "Moderation", "config": {}},
        {"name": "Jailbreak", "config": {"model": "judge"}}]},
    "output": {"version": 1, "guardrails": [
        {"name": "Secret Keys", "config": {}}]}}"#;

/// The key as an API key (async-openai keeps it in a `SecretString`).
fn keyed_client(base: &str) -> Client<OpenAIConfig> {
    Client::with_config(config(base.to_owned()))
}

#[test]
fn debug_of_clients_models_and_settings_never_shows_the_key() {
    let base = "http://127.0.0.1:9/v1";
    let plain = keyed_client(base);
    debug_clean("async-openai client", &plain);
    let transport = Transport::builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    debug_clean("transport", &transport);
    let on_transport = transport.client(config(base.to_owned()));
    debug_clean("client on the transport", &on_transport);
    debug_clean(
        "timeout wrapper",
        &Timeout::new(keyed_client(base)).response(Duration::from_secs(1)),
    );
    let generated = Generated {
        inner: keyed_client(base),
        secrets: SecretKeys::new(),
    };
    debug_clean("generated client", &generated);
    debug_clean(
        "generated client on the transport",
        &Generated {
            inner: Timeout::new(transport.client(config(base.to_owned()))),
            secrets: SecretKeys::new(),
        },
    );

    // Client args: the key, and a header that carries it.
    let args = ClientArgs::new()
        .api_key(KEY)
        .base_url(base)
        .organization("org-1")
        .header("x-api-key", KEY);
    debug_clean("client args", &args);
    debug_clean("ephemeral source", &Ephemeral(args.clone()));

    // OpenAIModel with each source, and its builder.
    let builder = OpenAIModel::builder("m").client_args(args.clone());
    debug_clean("builder, ephemeral", &builder);
    debug_clean("model, ephemeral", &builder.build().unwrap());
    let builder = OpenAIModel::builder("m").client(keyed_client(base));
    debug_clean("builder, fixed", &builder);
    debug_clean("model, fixed", &builder.build().unwrap());
    let builder = OpenAIModel::builder("m").client(Generated {
        inner: transport.client(config(base.to_owned())),
        secrets: SecretKeys::new(),
    });
    debug_clean("builder, fixed generated", &builder);
    debug_clean("model, fixed generated", &builder.build().unwrap());
    debug_clean(
        "fixed source",
        &Fixed::shared(std::sync::Arc::new(keyed_client(base))),
    );
    let factory = {
        let args = args.clone();
        move || args.build()
    };
    let builder = OpenAIModel::builder("m").factory(factory.clone());
    debug_clean("builder, factory", &builder);
    debug_clean("model, factory", &builder.build().unwrap());
    debug_clean("factory source", &Factory::new(factory.clone()));
    let builder = OpenAIModel::builder("m").per_runtime(factory.clone());
    debug_clean("builder, per runtime", &builder);
    debug_clean("model, per runtime", &builder.build().unwrap());
    debug_clean(
        "per-runtime source",
        &PerRuntime::<Client<OpenAIConfig>, _>::new(factory),
    );

    // Guardrails that hold a client, and the pipeline's client.
    let clients = PipelineClients::new().openai(keyed_client(base));
    debug_clean("pipeline clients", &clients);
    let guarded = Pipeline::from_json(BUNDLE, &clients)
        .unwrap()
        .wrap(keyed_client(base));
    debug_clean("guarded client", &guarded);
    debug_clean("moderation", &Moderation::new(keyed_client(base)));
    debug_clean("judge", &LlmJudge::jailbreak(keyed_client(base), "judge"));
}

/// A client built from [`ClientArgs`] carries its headers in async-openai's
/// config, whose `Debug` shows header values: `ClientArgs::build` marks
/// them sensitive, so a credential given as a header shows as `Sensitive`
/// (whether the headers still arrive is checked in `model::sources`).
#[test]
fn debug_of_a_client_built_from_args_never_shows_a_header_credential() {
    let args = ClientArgs::new()
        .api_key(KEY)
        .base_url("http://127.0.0.1:9/v1")
        .header("x-api-key", KEY)
        .header("authorization", format!("Bearer {KEY}"));
    let built = args.build().unwrap();
    debug_clean("client built from args", &built);
}

/// A structured-output target.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Person {
    name: String,
}

/// The events of one call, or the error that ended it.
async fn events_of<S: ClientSource>(model: &OpenAIModel<S>) -> Result<usize, ModelError> {
    let messages = [Message::user("hi")];
    let run = async {
        let mut events = std::pin::pin!(model.stream(&messages, &[], None, None));
        // Bounded: the replies here are a few chunks.
        for n in 0..1_000 {
            match events.next().await {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(n),
            }
        }
        panic!("the event stream did not end")
    };
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the call ended")
}

/// Forces every server-side failure through models made by `make` (one
/// streaming, one not), checks each error for the key, and notes its kind.
async fn force<S: ClientSource>(
    name: &str,
    server: &LocalServer,
    make: impl Fn(bool) -> OpenAIModel<S>,
    kinds: &mut std::collections::BTreeSet<&'static str>,
) {
    let echo = format!("Authorization: Bearer {KEY}");
    for stream in [true, false] {
        let model = make(stream);
        let mut replies = vec![
            Reply::error(401, "invalid_api_key", format!("Incorrect API key: {KEY}")),
            Reply::error(
                400,
                "context_length_exceeded",
                format!("maximum context length exceeded for {echo}"),
            ),
            Reply::error(429, "rate_limit_exceeded", format!("{echo} is throttled")).retry_after(0),
            Reply::raw(200, "text/html", format!("<p>{echo}</p>")),
        ];
        if stream {
            replies.extend([
                Reply::raw(
                    200,
                    "text/event-stream",
                    format!("data: {{\"id\": \"{KEY}\"\n\n"),
                ),
                Reply::raw(
                    200,
                    "text/event-stream",
                    format!(
                        "data: {{\"error\": {{\"message\": \"{echo}\"}}, \"choices\": []}}\n\n"
                    ),
                ),
                Reply::text("a b c")
                    .chunks(3)
                    .fault(Fault::CutBeforeDone { after: 2 }),
            ]);
        }
        for reply in replies {
            // As the default, so no retry meets another reply.
            server.set_default(reply);
            let err = events_of(&model).await.expect_err("the call fails");
            kinds.insert(model_kind(&err));
            error_clean(name, &err);
        }
        // Structured output the reply does not fit.
        server.set_default(Reply::text("not json"));
        let err = match model
            .structured_output::<Person>(&[Message::user("hi")], None)
            .await
        {
            Ok(person) => panic!("\"not json\" read as a Person named {}", person.name),
            Err(err) => err,
        };
        kinds.insert(model_kind(&err));
        error_clean(name, &err);
    }
}

/// A ModelError of each kind, from calls through `OpenAIModel` with each
/// client source (the server echoes the key back), and from building
/// clients and models; none shows the key.
#[tokio::test]
async fn model_errors_never_show_the_key() {
    let server = LocalServer::start().await.unwrap();
    let base = server.base_url();
    let args = ClientArgs::new().api_key(KEY).base_url(base.clone());
    let make: MakeClient = {
        let args = args.clone();
        Box::new(move || args.build())
    };
    let make = std::sync::Arc::new(make);
    let transport = Transport::builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let mut kinds = std::collections::BTreeSet::new();

    force(
        "fixed",
        &server,
        |stream| {
            OpenAIModel::builder("m")
                .client(keyed_client(&base))
                .stream(stream)
                .build()
                .unwrap()
        },
        &mut kinds,
    )
    .await;
    force(
        "fixed, generated over the transport",
        &server,
        |stream| {
            OpenAIModel::builder("m")
                .client(Generated {
                    inner: transport.client(config(base.clone())),
                    secrets: SecretKeys::new(),
                })
                .stream(stream)
                .build()
                .unwrap()
        },
        &mut kinds,
    )
    .await;
    force(
        "ephemeral",
        &server,
        |stream| {
            OpenAIModel::builder("m")
                .client_args(args.clone())
                .stream(stream)
                .build()
                .unwrap()
        },
        &mut kinds,
    )
    .await;
    force(
        "factory",
        &server,
        |stream| {
            let make = make.clone();
            OpenAIModel::builder("m")
                .factory(move || make())
                .stream(stream)
                .build()
                .unwrap()
        },
        &mut kinds,
    )
    .await;
    force(
        "per runtime",
        &server,
        |stream| {
            let make = make.clone();
            OpenAIModel::builder("m")
                .per_runtime(move || make())
                .stream(stream)
                .build()
                .unwrap()
        },
        &mut kinds,
    )
    .await;

    // A hook's tripwire, through the generated client (the key in the
    // request, as the user wrote it).
    let guarded = OpenAIModel::builder("m")
        .client(Generated {
            inner: keyed_client(&base),
            secrets: SecretKeys::new(),
        })
        .build()
        .unwrap();
    let messages = [Message::user(format!("my key is {KEY}"))];
    let mut events = std::pin::pin!(guarded.stream(&messages, &[], None, None));
    let err = events.next().await.unwrap().expect_err("the hook trips");
    kinds.insert(model_kind(&err));
    error_clean("tripwire", &err);
    // A model param that is not a request field.
    let bad = OpenAIModel::builder("m")
        .client(keyed_client(&base))
        .params(json!({"not_a_field": 1}))
        .build()
        .unwrap();
    let err = events_of(&bad).await.unwrap_err();
    kinds.insert(model_kind(&err));
    error_clean("invalid request", &err);
    // Connection refused, the key in the URL too.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = OpenAIModel::builder("m")
        .client_args(
            ClientArgs::new()
                .api_key(KEY)
                .base_url(format!("http://127.0.0.1:{port}/v1?api_key={KEY}")),
        )
        .build()
        .unwrap();
    let err = events_of(&nowhere).await.unwrap_err();
    kinds.insert(model_kind(&err));
    error_clean("refused", &err);
    // Configuration errors with the key at hand.
    for err in [
        ClientArgs::new()
            .api_key(KEY)
            .header("x-api-key", format!("{KEY}\n"))
            .build()
            .unwrap_err(),
        ClientArgs::new()
            .api_key(KEY)
            .root_certificate_pem(format!("-----BEGIN CERTIFICATE-----\n{KEY}\n"))
            .build()
            .unwrap_err(),
        OpenAIModel::builder("m")
            .client(keyed_client(&base))
            .client_args(args.clone())
            .build()
            .unwrap_err(),
    ] {
        kinds.insert(model_kind(&err));
        error_clean("config", &err);
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "Client::Api",
            "Client::Decode",
            "Client::EmptyStream",
            "Client::Transport",
            "Client::Truncated",
            "Config",
            "ContextWindowOverflow",
            "Hook",
            "InvalidRequest",
            "StructuredOutput",
            "Throttled",
        ],
        "every ModelError kind was forced"
    );
    assert_eq!(
        server.requests()[0].headers["authorization"],
        format!("Bearer {KEY}"),
        "the key was really sent"
    );
    server.shutdown().await;
}

fn model_kind(err: &ModelError) -> &'static str {
    match err {
        ModelError::ContextWindowOverflow(_) => "ContextWindowOverflow",
        ModelError::Throttled(_) => "Throttled",
        ModelError::Hook(_) => "Hook",
        ModelError::Client(ClientError::Api(_)) => "Client::Api",
        ModelError::Client(ClientError::Decode { .. }) => "Client::Decode",
        ModelError::Client(ClientError::Transport { .. }) => "Client::Transport",
        ModelError::Client(ClientError::Truncated { .. }) => "Client::Truncated",
        ModelError::Client(ClientError::EmptyStream) => "Client::EmptyStream",
        ModelError::Client(_) => "Client::other",
        ModelError::InvalidRequest(_) => "InvalidRequest",
        ModelError::Config(_) => "Config",
        ModelError::StructuredOutput { .. } => "StructuredOutput",
        _ => "other",
    }
}

/// A client factory with a name.
type MakeClient = Box<dyn Fn() -> Result<Client<OpenAIConfig>, ModelError> + Send + Sync>;
