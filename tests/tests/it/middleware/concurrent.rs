//! Input checks running alongside the call (`Concurrently`), through the
//! local server: a trip cancels the request in flight and closes its
//! connection; a pass lets the reply through.

use std::time::Duration;

use futures::StreamExt;
use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::middleware::Concurrently;
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks::transport::{RetryPolicy, Transport};
use openai_hooks::{ChatClient, ChatRequest, HookContext, HookError, PreRequest, Stage};
use serde_json::json;

fn request() -> ChatRequest {
    serde_json::from_value(json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hello"}],
    }))
    .unwrap()
}

fn client(server: &LocalServer) -> Client<OpenAIConfig> {
    Transport::builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
        .client(
            OpenAIConfig::new()
                .with_api_base(server.base_url())
                .with_api_key("k"),
        )
}

/// A check that waits until the server holds the request, then decides.
struct OnceInFlight<'a> {
    server: &'a LocalServer,
    trip: bool,
}

impl PreRequest for OnceInFlight<'_> {
    async fn pre_request(&self, _: &mut ChatRequest, _: &mut HookContext) -> Result<(), HookError> {
        // Bounded: 10 s at most, then the test fails on the assertions below.
        for _ in 0..2000 {
            if !self.server.requests().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            self.server.connections_open(),
            1,
            "the request is in flight"
        );
        if self.trip {
            Err(HookError::tripwire("input rejected"))
        } else {
            Ok(())
        }
    }
}

/// The reply is scripted to take far longer than the test waits: only a
/// cancelled request lets the server see its connection close in time.
const SLOW: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_trip_cancels_the_request_in_flight() {
    let server = LocalServer::start().await.unwrap();
    server.push(Reply::text("never read").first_byte_delay(SLOW));
    let guarded = Concurrently::new(
        client(&server),
        OnceInFlight {
            server: &server,
            trip: true,
        },
        "judge",
    );
    let err = guarded.create(request()).await.unwrap_err();
    let trip = err.tripwire().expect("the caller gets the tripwire");
    assert_eq!(
        (trip.hook.as_ref(), trip.stage),
        ("judge", Stage::PreRequest)
    );
    assert!(
        server
            .wait_for_connections_open(0, Duration::from_secs(10))
            .await,
        "the server sees the connection dropped while the client lives on"
    );
    drop(guarded);
    server.shutdown().await;
}

#[tokio::test]
async fn a_trip_cancels_a_stream_request_in_flight() {
    let server = LocalServer::start().await.unwrap();
    server.push(Reply::text("never read").first_byte_delay(SLOW));
    let guarded = Concurrently::new(
        client(&server),
        OnceInFlight {
            server: &server,
            trip: true,
        },
        "judge",
    );
    let err = match guarded.create_stream(request()).await {
        Ok(_) => panic!("no stream after a trip"),
        Err(e) => e,
    };
    assert!(err.tripwire().is_some(), "{err:?}");
    assert!(
        server
            .wait_for_connections_open(0, Duration::from_secs(10))
            .await
    );
    drop(guarded);
    server.shutdown().await;
}

#[tokio::test]
async fn a_pass_lets_the_reply_through() {
    let server = LocalServer::start().await.unwrap();
    server.push(Reply::text("fine").first_byte_delay(Duration::from_millis(50)));
    server.push(Reply::text("streamed fine").chunks(3));
    let guarded = Concurrently::new(
        client(&server),
        OnceInFlight {
            server: &server,
            trip: false,
        },
        "judge",
    );
    let reply = guarded.create(request()).await.unwrap();
    assert_eq!(reply.content(), Some("fine"));
    let mut stream = guarded.create_stream(request()).await.unwrap();
    let mut text = String::new();
    while let Some(item) = stream.next().await {
        text.push_str(item.unwrap().content().unwrap_or_default());
    }
    assert_eq!(text, "streamed fine");
    drop(stream);
    drop(guarded);
    server.shutdown().await;
}
