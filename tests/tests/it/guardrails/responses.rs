//! The scanning guardrails on the Responses API, whole-text: as pre-request
//! hooks over a Responses request (instructions, messages, tool outputs)
//! and as post-response hooks over a `Response` (every text of every output
//! item), through a generated `api = responses` client and the local
//! server's `/v1/responses`.

use openai_hooks::async_openai::config::OpenAIConfig;
use openai_hooks::async_openai::types::responses::CreateResponse;
use openai_hooks::guardrails::{KeywordAction, Keywords, Pii, SecretAction, SecretKeys, UrlFilter};
use openai_hooks::server::{LocalServer, Reply, ToolCallSpec};
use openai_hooks::text::{Author, Place, walk_responses_request};
use openai_hooks::types::responses::Response;
use openai_hooks::{ClientError, HookError, PostResponse, ResponsesClient, openai_client};
use serde_json::{Value, json};

use crate::support::fixtures_dir;

type Client = openai_hooks::async_openai::Client<OpenAIConfig>;

#[openai_client(api = responses)]
struct Guarded {
    #[inner]
    client: Client,
    #[pre_request]
    #[post_response]
    pii: Pii,
    #[pre_request]
    #[post_response]
    secrets: SecretKeys,
    #[post_response]
    words: Keywords,
}

fn guarded(server: &LocalServer) -> Guarded {
    Guarded {
        client: Client::with_config(OpenAIConfig::new().with_api_base(server.base_url())),
        pii: Pii::new(),
        secrets: SecretKeys::new().action(SecretAction::Mask),
        words: Keywords::new(["project zephyr"]).unwrap(),
    }
}

fn request(v: Value) -> CreateResponse {
    serde_json::from_value(v).unwrap()
}

/// A request with text in every place the walk reads.
fn every_place() -> CreateResponse {
    request(json!({
        "model": "gpt-4.1-mini",
        "instructions": "Operator jane.doe@example.com",
        "input": [
            {"role": "system", "content": "sys 123-45-6789"},
            {"role": "user", "content": [
                {"type": "input_text", "text": "call 555-123-4567"},
                {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"},
                {"type": "input_text", "text": "key sk-proj-4fT9qLm2Xv8RkP0sWz7YbN3c"},
            ]},
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "dev 4111 1111 1111 1111"}]},
            {"role": "assistant", "content": "earlier: bob@example.org"},
            {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": "{\"email\":\"carol@example.net\"}"},
            {"type": "function_call_output", "call_id": "c1", "output": "found dave@example.com"},
        ],
    }))
}

#[test]
fn the_walk_names_every_piece_of_a_responses_request() {
    let mut seen = Vec::new();
    walk_responses_request(&every_place(), |piece, text| {
        seen.push((piece.author, piece.message, piece.place, text.clone()));
        Ok::<_, ()>(())
    })
    .unwrap();
    let places: Vec<_> = seen.iter().map(|(a, m, p, _)| (*a, *m, *p)).collect();
    assert_eq!(
        places,
        [
            (Author::System, 0, Place::Instructions),
            (Author::System, 0, Place::Content),
            (Author::User, 1, Place::Part(0)),
            (Author::User, 1, Place::Part(2)),
            (Author::Developer, 2, Place::Part(0)),
            (Author::Assistant, 3, Place::Content),
            (Author::Assistant, 4, Place::ToolArguments(0)),
            (Author::Tool, 5, Place::ToolOutput),
        ]
    );
    // A plain string input is the user's.
    let mut seen = Vec::new();
    walk_responses_request(&request(json!({"model": "m", "input": "hi"})), |p, t| {
        seen.push((p.author, p.place, t.clone()));
        Ok::<_, ()>(())
    })
    .unwrap();
    assert_eq!(seen, [(Author::User, Place::Content, "hi".to_owned())]);
}

#[tokio::test]
async fn pre_request_masks_input_text_and_tool_output_but_not_history() {
    let server = LocalServer::start().await.unwrap();
    let client = guarded(&server);
    server.push(Reply::text("ok"));
    client.create(every_place()).await.unwrap();
    let sent = server.requests().pop().unwrap().body;
    let text = sent.to_string();
    for leaked in [
        "jane.doe@example.com",
        "123-45-6789",
        "555-123-4567",
        "4fT9qLm2Xv8RkP0sWz7YbN3c",
        "4111 1111 1111 1111",
        "dave@example.com",
    ] {
        assert!(!text.contains(leaked), "{leaked} was sent: {text}");
    }
    assert!(
        sent["instructions"]
            .as_str()
            .unwrap()
            .contains("<EMAIL_ADDRESS>"),
        "{sent}"
    );
    assert!(text.contains("<SECRET>"), "{text}");
    // The model's own history is left as it was (as on Chat Completions).
    assert!(text.contains("bob@example.org"), "{text}");
    assert!(text.contains("carol@example.net"), "{text}");
    server.shutdown().await;
}

#[tokio::test]
async fn post_response_reads_every_output_channel() {
    let server = LocalServer::start().await.unwrap();
    let client = guarded(&server);
    let req = || request(json!({"model": "m", "input": "hi"}));

    // Text, reasoning summary and reasoning text.
    server.push(
        Reply::text("reach me at jane.doe@example.com")
            .reasoning_summary("the user is 123-45-6789")
            .reasoning("key sk-proj-4fT9qLm2Xv8RkP0sWz7YbN3c"),
    );
    let reply = client.create(req()).await.unwrap();
    let out = serde_json::to_string(&reply.output).unwrap();
    for leaked in [
        "jane.doe@example.com",
        "123-45-6789",
        "4fT9qLm2Xv8RkP0sWz7YbN3c",
    ] {
        assert!(!out.contains(leaked), "{leaked}: {out}");
    }

    // Function-call arguments: masked inside the JSON, which stays valid.
    server.push(Reply::tool_calls([ToolCallSpec::new(
        "notify",
        json!({"to": "jane.doe@example.com"}),
    )]));
    let reply = client.create(req()).await.unwrap();
    let args = reply.output[0].arguments.as_deref().unwrap();
    let parsed: Value = serde_json::from_str(args).unwrap();
    assert_eq!(parsed["to"], "<EMAIL_ADDRESS>");

    // A refusal, and a blocked keyword anywhere trips the call.
    server.push(Reply::refusal("I won't discuss Project\u{200B} Zephyr"));
    let err = client.create(req()).await.unwrap_err();
    match err {
        ClientError::Hook(HookError::Tripwire(t)) => assert_eq!(t.hook, "words"),
        other => panic!("{other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn citations_are_read_by_the_url_filter() {
    let server = LocalServer::start().await.unwrap();
    let filter = UrlFilter::new(["example.com"]).unwrap();
    let path = fixtures_dir().join("responses/web-search-citation.json");
    server.push(Reply::fixture(&path));
    let client = Client::with_config(OpenAIConfig::new().with_api_base(server.base_url()));
    let mut reply: Response =
        ResponsesClient::create(&client, request(json!({"model": "m", "input": "q"})))
            .await
            .unwrap();
    let cited: Vec<String> = reply
        .output
        .iter()
        .flat_map(|i| &i.content)
        .flat_map(|c| &c.annotations)
        .filter_map(|a| a.url.clone())
        .collect();
    assert!(!cited.is_empty(), "the fixture cites a URL");
    assert!(
        cited.iter().all(|u| !u.contains("example.com")),
        "{cited:?}"
    );
    let mut cx = openai_hooks::HookContext::new("m");
    let outcome = filter.post_response(&mut reply, &mut cx).await;
    assert!(
        outcome.is_err(),
        "a cited host outside the allow list trips"
    );
}

#[tokio::test]
async fn masking_keywords_and_evasions_on_responses_channels() {
    let kw = Keywords::new(["acme"]).unwrap().action(KeywordAction::Mask);
    let mut reply: Response = serde_json::from_value(json!({
        "output": [
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "about ＡＣＭＥ"}]},
            {"type": "message", "content": [
                {"type": "output_text", "text": "a\u{200B}cme rocks", "logprobs": [{"token": "acme"}]}
            ]},
            {"type": "custom_tool_call", "call_id": "c", "name": "sh", "input": "echo Acme"},
        ],
    }))
    .unwrap();
    let mut cx = openai_hooks::HookContext::new("m");
    kw.post_response(&mut reply, &mut cx).await.unwrap();
    let out = serde_json::to_string(&reply).unwrap();
    assert_eq!(out.matches("<KEYWORD>").count(), 3, "{out}");
    assert!(
        !out.to_lowercase().contains("acme"),
        "logprobs removed too: {out}"
    );
}

#[tokio::test]
async fn the_input_budget_measures_a_responses_request() {
    use openai_hooks::PreRequest;
    use openai_hooks::guardrails::InputBudget;

    let req = every_place();
    let (messages, chars, _) = InputBudget::measure_responses(&req);
    assert_eq!(messages, 6);
    // Instructions, message contents and the tool output; not the call's
    // arguments.
    let counted: usize = [
        "Operator jane.doe@example.com",
        "sys 123-45-6789",
        "call 555-123-4567",
        "key sk-proj-4fT9qLm2Xv8RkP0sWz7YbN3c",
        "dev 4111 1111 1111 1111",
        "earlier: bob@example.org",
        "found dave@example.com",
    ]
    .iter()
    .map(|t| t.chars().count())
    .sum();
    assert_eq!(chars, counted);

    let mut cx = openai_hooks::HookContext::new("m");
    let mut req = every_place();
    InputBudget::new()
        .max_chars(counted)
        .pre_request(&mut req, &mut cx)
        .await
        .unwrap();
    let err = InputBudget::new()
        .max_messages(5)
        .pre_request(&mut req, &mut cx)
        .await
        .unwrap_err();
    assert!(err.is_tripwire(), "{err:?}");
}
