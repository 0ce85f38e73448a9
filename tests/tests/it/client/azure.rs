//! Azure OpenAI through every Chat path: `async_openai::Client<AzureConfig>`
//! as a `ChatClient`, inside a generated guarded client, and injected into
//! `OpenAIModel`, against the local server's Azure routes (deployment in
//! the path, `api-version` in the query, the key in an `api-key` header).

use futures::StreamExt;
use openai_hooks::async_openai::Client;
use openai_hooks::async_openai::config::AzureConfig;
use openai_hooks::guardrails::Pii;
use openai_hooks::model::{Message, OpenAIModel, StreamEvent};
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks::transport::{RetryPolicy, Transport};
use openai_hooks::{ChatClient, ChatRequest, ClientError, openai_client};
use serde_json::json;

const KEY: &str = "azure-key-0123456789abcdef0123456789ab";

fn config(server: &LocalServer) -> AzureConfig {
    // The local server's base URL ends in `/v1`; Azure's resource URL is
    // the host alone.
    let base = server.base_url();
    AzureConfig::new()
        .with_api_base(base.trim_end_matches("/v1"))
        .with_deployment_id("gpt-4o-prod")
        .with_api_version("2024-10-21")
        .with_api_key(KEY)
}

fn request() -> ChatRequest {
    serde_json::from_value(json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "mail me at jane.doe@example.com"}]}))
        .unwrap()
}

#[openai_client]
struct Guarded {
    #[inner]
    client: Client<AzureConfig>,
    #[pre_request]
    #[on_chunk]
    pii: Pii,
}

#[tokio::test]
async fn an_azure_client_is_a_chat_client_plain_and_on_a_transport() {
    let server = LocalServer::start().await.unwrap();
    let transport = Transport::builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    for (how, client) in [
        ("plain", Client::with_config(config(&server))),
        ("transport", transport.client(config(&server))),
    ] {
        server.push(Reply::text("Hello from Azure").chunks(3));
        let reply = client.create(request()).await.unwrap();
        assert_eq!(reply.content(), Some("Hello from Azure"), "{how}");
        let sent = server.requests().pop().unwrap();
        assert_eq!(
            sent.path, "/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21",
            "{how}"
        );
        assert_eq!(sent.headers["api-key"], KEY, "{how}");
        assert!(!sent.headers.contains_key("authorization"), "{how}");

        server.push(Reply::text("streamed").chunks(4));
        let text: String = client
            .create_stream(request())
            .await
            .unwrap()
            .map(|c| c.unwrap().content().unwrap_or_default().to_owned())
            .collect()
            .await;
        assert_eq!(text, "streamed", "{how}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn guarded_and_injected_into_a_model() {
    let server = LocalServer::start().await.unwrap();
    let guarded = Guarded {
        client: Client::with_config(config(&server)),
        pii: Pii::new(),
    };
    server.push(Reply::text("write to bob@example.org").chunks(5));
    let text: String = guarded
        .create_stream(request())
        .await
        .unwrap()
        .map(|c| c.unwrap().content().unwrap_or_default().to_owned())
        .collect()
        .await;
    assert_eq!(text, "write to <EMAIL_ADDRESS>");
    let sent = server.requests().pop().unwrap().raw;
    assert!(!sent.contains("jane.doe@example.com"), "{sent}");

    let model = OpenAIModel::builder("gpt-4o-prod")
        .client(guarded)
        .build()
        .unwrap();
    server.push(Reply::text("Hi there"));
    let events: Vec<_> = model
        .stream(&[Message::user("hi")], &[], None, None)
        .collect()
        .await;
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            Ok(StreamEvent::ContentBlockDelta(openai_hooks::model::BlockDelta::Text(t))) => {
                Some(t.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(text, "Hi there");
    server.shutdown().await;
}

#[tokio::test]
async fn azure_errors_are_typed_and_keep_no_key() {
    let server = LocalServer::start().await.unwrap();
    let transport = Transport::builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap();

    // No api-version: Azure answers 404 Resource not found.
    let client = transport.client(config(&server).with_api_version(""));
    let err = client.create(request()).await.unwrap_err();
    match &err {
        ClientError::Api(api) => {
            assert_eq!(api.status, Some(404));
            assert_eq!(api.message, "Resource not found");
        }
        other => panic!("{other:?}"),
    }

    // No key: 401.
    let client = transport.client(config(&server).with_api_key(""));
    let err = client.create(request()).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Api(a) if a.status == Some(401)),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains(KEY));

    // Azure's throttling body, with Retry-After.
    server.push(
        Reply::error(
            429,
            "429",
            "Requests to the ChatCompletions_Create Operation have exceeded call rate limit",
        )
        .retry_after(3),
    );
    let client = transport.client(config(&server));
    let err = client.create(request()).await.unwrap_err();
    match &err {
        ClientError::Api(api) => {
            assert!(api.is_throttling(), "{api:?}");
            assert_eq!(api.retry_after, Some(std::time::Duration::from_secs(3)));
        }
        other => panic!("{other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_v1_route_takes_a_bearer_token() {
    let server = LocalServer::start().await.unwrap();
    let base = server.base_url();
    let client = Client::with_config(
        openai_hooks::async_openai::config::OpenAIConfig::new()
            .with_api_base(format!("{}/openai/v1", base.trim_end_matches("/v1")))
            .with_api_key("entra-token"),
    );
    server.push(Reply::text("v1 ok"));
    let reply = client.create(request()).await.unwrap();
    assert_eq!(reply.content(), Some("v1 ok"));
    let sent = server.requests().pop().unwrap();
    assert_eq!(sent.path, "/openai/v1/chat/completions");
    assert_eq!(sent.headers["authorization"], "Bearer entra-token");
    server.shutdown().await;
}

#[tokio::test]
async fn azure_filter_results_read_as_typed_values() {
    let server = LocalServer::start().await.unwrap();
    let client = Client::with_config(config(&server));
    let dir = crate::support::fixtures_dir();

    server.push(Reply::fixture(
        dir.join("response/azure-length-content-filter.json"),
    ));
    let reply = client.create(request()).await.unwrap();
    let prompt = reply.prompt_filter_results();
    assert_eq!(prompt.len(), 1);
    assert_eq!(
        prompt[0].content_filter_results.0["hate"]
            .severity
            .as_deref(),
        Some("safe")
    );
    assert!(!prompt[0].content_filter_results.filtered());
    let choice = reply.choices[0].content_filter_results().unwrap();
    assert_eq!(choice.0.len(), 4);
    assert_eq!(choice.flagged().count(), 0);

    server.push(Reply::fixture(
        dir.join("stream/azure-content-filter-usage.sse"),
    ));
    let chunks: Vec<_> = client
        .create_stream(request())
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    let prompt = chunks[0].prompt_filter_results();
    assert_eq!(
        prompt[0].content_filter_results.0["jailbreak"].detected,
        Some(false)
    );
    let per_choice = chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter_map(|c| c.content_filter_results())
        .count();
    assert!(per_choice > 0);
    server.shutdown().await;
}

/// Azure's answer to a prompt its filter refuses.
const FILTERED: &str = r#"{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":false,"severity":"safe"},"jailbreak":{"filtered":true,"detected":true},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}}}}"#;

#[tokio::test]
async fn a_content_filter_refusal_is_its_own_error() {
    let server = LocalServer::start().await.unwrap();
    let transport = Transport::builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let client = transport.client(config(&server));
    server.push(Reply::raw(400, "application/json", FILTERED));
    let err = client.create(request()).await.unwrap_err();
    match &err {
        ClientError::Api(api) => {
            assert!(api.is_content_filtered(), "{api:?}");
            assert!(!api.is_context_window_overflow() && !api.is_throttling());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.public_message(),
        "The request was blocked by a content policy."
    );

    let model = OpenAIModel::builder("gpt-4o-prod")
        .client(client)
        .build()
        .unwrap();
    server.push(Reply::raw(400, "application/json", FILTERED));
    let events: Vec<_> = model
        .stream(&[Message::user("hi")], &[], None, None)
        .collect()
        .await;
    match events.last() {
        Some(Err(openai_hooks::model::ModelError::ContentFiltered(api))) => {
            assert_eq!(api.status, Some(400))
        }
        other => panic!("{other:?}"),
    }
    server.shutdown().await;
}

#[test]
fn a_category_of_another_shape_does_not_hide_the_others() {
    // Older API versions send `custom_blocklists` as a list; an `error`
    // entry says a filter could not run.
    let reply: openai_hooks::types::ChatResponse = serde_json::from_value(serde_json::json!({
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{
            "index": 0,
            "finish_reason": "content_filter",
            "message": {"role": "assistant", "content": null},
            "content_filter_results": {
                "custom_blocklists": [{"filtered": true, "id": "codenames"}],
                "hate": {"filtered": true, "severity": "high"},
                "profanity": null
            }
        }]
    }))
    .unwrap();
    let results = reply.choices[0]
        .content_filter_results()
        .expect("the categories that read are kept");
    assert!(results.filtered());
    let flagged: Vec<_> = results.flagged().collect();
    assert_eq!(flagged, ["custom_blocklists", "hate"]);
}
