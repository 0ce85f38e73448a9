//! Streams that own their client or model (`client::stream_owned`,
//! `client::response_stream_owned`, `OpenAIModel::stream_owned`): `'static`
//! and `Send`, the same items and errors, and dropping one drops the call.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use openai_hooks::async_openai::config::OpenAIConfig;
use openai_hooks::async_openai::types::responses::CreateResponseArgs;
use openai_hooks::client::{response_stream_owned, stream_owned};
use openai_hooks::model::{Message, ModelError, OpenAIModel, StreamEvent};
use openai_hooks::server::{Fault, LocalServer, Reply};
use openai_hooks::{ChatRequest, ClientError};
use serde_json::json;

type Client = openai_hooks::async_openai::Client<OpenAIConfig>;

fn client(server: &LocalServer) -> Arc<Client> {
    Arc::new(Client::with_config(
        OpenAIConfig::new().with_api_base(server.base_url()),
    ))
}

fn chat_request() -> ChatRequest {
    serde_json::from_value(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .unwrap()
}

fn is_static_send<T: Send + 'static>(t: T) -> T {
    t
}

#[tokio::test]
async fn an_owned_stream_outlives_its_borrow_and_keeps_every_item() {
    let server = LocalServer::start().await.unwrap();
    server.push(Reply::text("Hello there").chunks(4));
    let stream = is_static_send(stream_owned(client(&server), chat_request()).await.unwrap());
    let text = tokio::spawn(async move {
        stream
            .map(|c| c.unwrap().content().unwrap_or_default().to_owned())
            .collect::<String>()
            .await
    })
    .await
    .unwrap();
    assert_eq!(text, "Hello there");

    // The checks still apply: a stream cut short ends `Truncated`.
    server.push(
        Reply::text("cut here")
            .chunks(4)
            .fault(Fault::CutBeforeDone { after: 2 }),
    );
    let items: Vec<_> = stream_owned(client(&server), chat_request())
        .await
        .unwrap()
        .collect()
        .await;
    assert!(
        matches!(items.last(), Some(Err(ClientError::Truncated { .. }))),
        "{:?}",
        items.last()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn an_error_opening_the_stream_is_returned() {
    let server = LocalServer::start().await.unwrap();
    // Through a transport, an error status fails the call itself.
    let transport = openai_hooks::transport::Transport::builder()
        .retry(openai_hooks::transport::RetryPolicy::none())
        .build()
        .unwrap();
    let client = Arc::new(transport.client(OpenAIConfig::new().with_api_base(server.base_url())));
    server.push(Reply::error(400, "invalid_value", "Bad input"));
    let err = stream_owned(client.clone(), chat_request())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, ClientError::Api(a) if a.status == Some(400)),
        "{err:?}"
    );

    let request = CreateResponseArgs::default()
        .model("m")
        .input("hi")
        .build()
        .unwrap();
    server.push(Reply::error(400, "invalid_value", "Bad input"));
    let err = response_stream_owned(client, request).await.err().unwrap();
    assert!(
        matches!(&err, ClientError::Api(a) if a.status == Some(400)),
        "{err:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn dropping_an_owned_stream_drops_the_call() {
    let server = LocalServer::start().await.unwrap();
    let slow = || {
        Reply::text("one two three four five six seven eight")
            .chunks(8)
            .chunk_delay(Duration::from_millis(200))
    };
    server.push(slow());
    let mut stream = stream_owned(client(&server), chat_request()).await.unwrap();
    stream.next().await.unwrap().unwrap();
    assert_eq!(server.connections_open(), 1);
    drop(stream);
    assert!(
        server
            .wait_for_connections_open(0, Duration::from_secs(5))
            .await,
        "the connection stayed open"
    );

    server.push(slow());
    let request = CreateResponseArgs::default()
        .model("m")
        .input("hi")
        .build()
        .unwrap();
    let mut events = response_stream_owned(client(&server), request)
        .await
        .unwrap();
    events.next().await.unwrap().unwrap();
    drop(events);
    assert!(
        server
            .wait_for_connections_open(0, Duration::from_secs(5))
            .await
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_model_streams_owned_events_from_a_task() {
    let server = LocalServer::start().await.unwrap();
    let model = Arc::new(
        OpenAIModel::builder("gpt-4o-mini")
            .shared_client(client(&server))
            .build()
            .unwrap(),
    );
    server.push(Reply::text("Hello there").chunks(3));
    let events = is_static_send(Arc::clone(&model).stream_owned(
        vec![Message::user("hi")],
        Vec::new(),
        None,
        None,
    ));
    let events: Vec<Result<StreamEvent, ModelError>> =
        tokio::spawn(events.collect()).await.unwrap();
    assert!(events.iter().all(Result::is_ok), "{events:?}");
    assert!(events.len() > 3);

    // Errors are items, as with `stream`.
    server.push(Reply::error(400, "invalid_value", "Bad input"));
    let events: Vec<_> = Arc::clone(&model)
        .stream_owned(vec![Message::user("hi")], Vec::new(), None, None)
        .collect()
        .await;
    assert!(matches!(events.last(), Some(Err(_))), "{events:?}");

    // Dropped part way: the call is dropped too.
    server.push(
        Reply::text("one two three four five six")
            .chunks(6)
            .chunk_delay(Duration::from_millis(200)),
    );
    let mut events =
        Box::pin(model.stream_owned(vec![Message::user("hi")], Vec::new(), None, None));
    events.next().await.unwrap().unwrap();
    drop(events);
    assert!(
        server
            .wait_for_connections_open(0, Duration::from_secs(5))
            .await
    );
    server.shutdown().await;
}
