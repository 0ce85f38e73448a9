//! The streaming guarantee on the Responses API: the scanning guardrails as
//! event hooks of a generated `api = responses` client, over event streams
//! with random delta cuts.
//!
//! For every text and cut:
//! - nothing planted reaches the caller, in any event: deltas, the `.done`
//!   events, parts, items and the terminal response that repeat the text;
//! - the deltas joined equal checking the whole text at once, and every
//!   event that repeats the text carries exactly that;
//! - a blocking guardrail ends the stream with its tripwire, after a clean
//!   prefix of the text;
//! - what a text's last delta held is released as a delta of its own
//!   before the event that ends it, also when the upstream is cut short.

use std::sync::Mutex;

use futures::StreamExt;
use openai_hooks::async_openai::types::responses::CreateResponseArgs;
use openai_hooks::guardrails::{Guardrail, Keywords, Pii, SecretAction, SecretKeys};
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks::types::responses::{ResponseEvent, ResponsesRequest};
use openai_hooks::{ClientError, HookError, ResponseStream, ResponsesClient, openai_client};
use proptest::prelude::*;
use serde_json::{Value, json};

/// An inner client that streams the events it is given.
struct Scripted(Mutex<Option<Vec<Value>>>);

impl Scripted {
    fn new(events: Vec<Value>) -> Self {
        Self(Mutex::new(Some(events)))
    }
}

impl ResponsesClient for Scripted {
    async fn create(
        &self,
        _: ResponsesRequest,
    ) -> Result<openai_hooks::types::responses::Response, ClientError> {
        unreachable!("streams only")
    }

    async fn create_stream(&self, _: ResponsesRequest) -> Result<ResponseStream<'_>, ClientError> {
        let events = self.0.lock().unwrap().take().unwrap();
        let items: Vec<_> = events
            .into_iter()
            .map(|v| Ok(serde_json::from_value::<ResponseEvent>(v).unwrap()))
            .collect();
        Ok(openai_hooks::client::checked_events(Box::pin(
            futures::stream::iter(items),
        )))
    }
}

#[openai_client(api = responses)]
struct Masked {
    #[inner]
    client: Scripted,
    #[on_chunk]
    pii: Pii,
    #[on_chunk]
    secrets: SecretKeys,
}

#[openai_client(api = responses)]
struct Blocked {
    #[inner]
    client: Scripted,
    #[on_chunk]
    words: Keywords,
}

fn request() -> ResponsesRequest {
    CreateResponseArgs::default()
        .model("m")
        .input("hi")
        .build()
        .unwrap()
}

/// The events a server sends for `text` as one message, cut at `cuts`
/// (byte offsets, on character boundaries), then a function call whose
/// arguments are `args` cut the same way; `terminal` false leaves the
/// stream without its end.
fn events(text: &str, args: &str, cuts: &[usize], terminal: bool) -> Vec<Value> {
    let pieces = |s: &str| -> Vec<String> {
        let mut at: Vec<usize> = cuts
            .iter()
            .map(|c| c % (s.len() + 1))
            .filter(|&c| s.is_char_boundary(c))
            .collect();
        at.push(0);
        at.push(s.len());
        at.sort_unstable();
        at.dedup();
        at.windows(2).map(|w| s[w[0]..w[1]].to_owned()).collect()
    };
    let msg = json!({"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                     "content": [{"type": "output_text", "text": text, "annotations": []}]});
    let call = json!({"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": args});
    let mut out = vec![
        json!({"type": "response.created", "response": {"status": "in_progress", "output": []}}),
        json!({"type": "response.output_item.added", "output_index": 0,
               "item": {"type": "message", "id": "msg_1", "role": "assistant", "content": []}}),
        json!({"type": "response.content_part.added", "item_id": "msg_1", "output_index": 0, "content_index": 0,
               "part": {"type": "output_text", "text": "", "annotations": []}}),
    ];
    for p in pieces(text) {
        out.push(
            json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
                        "content_index": 0, "delta": p, "logprobs": [{"token": p}]}),
        );
    }
    if !terminal {
        return out;
    }
    out.push(json!({"type": "response.output_text.done", "item_id": "msg_1", "output_index": 0, "content_index": 0, "text": text}));
    out.push(json!({"type": "response.content_part.done", "item_id": "msg_1", "output_index": 0, "content_index": 0,
                    "part": {"type": "output_text", "text": text, "annotations": []}}));
    out.push(json!({"type": "response.output_item.done", "output_index": 0, "item": msg}));
    out.push(json!({"type": "response.output_item.added", "output_index": 1,
                    "item": {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": ""}}));
    for p in pieces(args) {
        out.push(json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 1, "delta": p}));
    }
    out.push(json!({"type": "response.function_call_arguments.done", "item_id": "fc_1", "output_index": 1, "arguments": args}));
    out.push(json!({"type": "response.output_item.done", "output_index": 1, "item": call}));
    out.push(json!({"type": "response.completed", "response": {"status": "completed", "output": [msg, call]}}));
    out
}

async fn run_masked(events: Vec<Value>) -> (Vec<ResponseEvent>, Option<ClientError>) {
    let client = Masked {
        client: Scripted::new(events),
        pii: Pii::new(),
        secrets: SecretKeys::new().action(SecretAction::Mask),
    };
    drain(client.create_stream(request()).await.unwrap()).await
}

async fn drain(mut stream: ResponseStream<'_>) -> (Vec<ResponseEvent>, Option<ClientError>) {
    let mut out = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(e) => out.push(e),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

fn deltas(events: &[ResponseEvent], kind: &str) -> String {
    events
        .iter()
        .filter(|e| e.kind == kind)
        .filter_map(ResponseEvent::delta_text)
        .collect()
}

const PLANTS: &[&str] = &[
    "jane.doe@example.com",
    "123-45-6789",
    "4111 1111 1111 1111",
    "sk-proj-4fT9qLm2Xv8RkP0sWz7YbN3c",
];

fn text_strategy() -> impl Strategy<Value = String> {
    let word = prop::sample::select(vec![
        "hello", "the", "mail", "key", "x", "é", "日本", " ", ", ", "\n",
    ]);
    let plant = prop::sample::select(PLANTS.to_vec());
    prop::collection::vec(
        prop_oneof![3 => word.prop_map(str::to_owned), 1 => plant.prop_map(str::to_owned)],
        1..12,
    )
    .prop_map(|parts| parts.join(" "))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn nothing_planted_leaks_and_every_copy_agrees(
        text in text_strategy(),
        cuts in prop::collection::vec(0usize..400, 0..12),
    ) {
        let args = serde_json::to_string(&json!({"note": text})).unwrap();
        let (out, end) = rt().block_on(run_masked(events(&text, &args, &cuts, true)));
        prop_assert!(end.is_none(), "{end:?}");
        let all = serde_json::to_string(&out).unwrap();
        for plant in PLANTS {
            prop_assert!(!all.contains(plant), "{plant} leaked: {all}");
        }
        // The deltas equal checking the whole text at once.
        let want = whole(&text);
        let got = deltas(&out, "response.output_text.delta");
        prop_assert_eq!(&got, &want);
        // Every copy of the text is what was emitted.
        for e in &out {
            match e.kind.as_str() {
                "response.output_text.done" => prop_assert_eq!(e.text.as_deref(), Some(want.as_str())),
                "response.content_part.done" => {
                    prop_assert_eq!(e.part.as_ref().unwrap().text.as_deref(), Some(want.as_str()))
                }
                "response.completed" => {
                    let r = e.response.as_ref().unwrap();
                    prop_assert_eq!(r.output_text(), want.clone());
                    let a = r.output[1].arguments.as_deref().unwrap();
                    prop_assert_eq!(a, deltas(&out, "response.function_call_arguments.delta"));
                    let parsed: Value = serde_json::from_str(a).unwrap();
                    prop_assert_eq!(parsed["note"].as_str().unwrap(), want.as_str());
                }
                _ => {}
            }
            prop_assert!(!e.extra.contains_key("logprobs"), "logprobs kept: {}", e.kind);
        }
        // A release comes before the event that ended its text.
        let done = out.iter().position(|e| e.kind == "response.output_text.done").unwrap();
        prop_assert!(out[done + 1..].iter().all(|e| e.kind != "response.output_text.delta"));
    }

    #[test]
    fn a_stream_cut_short_releases_what_it_held_then_ends_truncated(
        text in text_strategy(),
        cuts in prop::collection::vec(0usize..400, 0..12),
    ) {
        let (out, end) = rt().block_on(run_masked(events(&text, "{}", &cuts, false)));
        prop_assert!(matches!(end, Some(ClientError::Truncated { .. })), "{end:?}");
        let all = serde_json::to_string(&out).unwrap();
        for plant in PLANTS {
            prop_assert!(!all.contains(plant), "{plant} leaked: {all}");
        }
        prop_assert_eq!(deltas(&out, "response.output_text.delta"), whole(&text));
    }

    #[test]
    fn a_blocked_term_never_reaches_the_caller(
        before in "[a-z ]{0,20}",
        after in "[a-z ]{0,20}",
        cuts in prop::collection::vec(0usize..80, 0..10),
    ) {
        let text = format!("{before} project zephyr {after}");
        let client = Blocked {
            client: Scripted::new(events(&text, "{}", &cuts, true)),
            words: Keywords::new(["project zephyr"]).unwrap(),
        };
        let (out, end) = rt().block_on(async { drain(client.create_stream(request()).await.unwrap()).await });
        prop_assert!(matches!(end, Some(ClientError::Hook(HookError::Tripwire(_)))), "{end:?}");
        let all = serde_json::to_string(&out).unwrap().to_lowercase();
        prop_assert!(!all.contains("project zephyr"), "{all}");
        let got = deltas(&out, "response.output_text.delta");
        prop_assert!(text.starts_with(&got), "{got:?} is not a prefix of {text:?}");
    }
}

/// What checking the whole text at once gives.
fn whole(text: &str) -> String {
    let once = Pii::new()
        .check(text)
        .text
        .unwrap_or_else(|| text.to_owned());
    SecretKeys::new()
        .action(SecretAction::Mask)
        .check(&once)
        .text
        .unwrap_or(once)
}

#[tokio::test]
async fn copies_a_server_sends_that_differ_from_its_deltas_are_replaced() {
    let mut evs = events("clean text", "{}", &[3], true);
    // The `.done` event and the completed response say more than the
    // deltas did.
    for e in &mut evs {
        if e["type"] == "response.output_text.done" {
            e["text"] = json!("clean text and jane.doe@example.com");
        }
        if e["type"] == "response.completed" {
            e["response"]["output"][0]["content"][0]["text"] = json!("sneaky 123-45-6789");
        }
    }
    let (out, end) = run_masked(evs).await;
    assert!(end.is_none(), "{end:?}");
    let all = serde_json::to_string(&out).unwrap();
    assert!(
        !all.contains("jane.doe") && !all.contains("123-45-6789"),
        "{all}"
    );
    let done = out
        .iter()
        .find(|e| e.kind == "response.output_text.done")
        .unwrap();
    assert_eq!(done.text.as_deref(), Some("clean text"));
}

#[tokio::test]
async fn text_that_never_streamed_and_unknown_events_are_scanned_whole() {
    let evs = vec![
        json!({"type": "response.created", "response": {"status": "in_progress"}}),
        json!({"type": "response.vendor.note", "payload": {"said": "mail jane.doe@example.com"}, "delta": {"x": "123-45-6789"}}),
        json!({"type": "response.output_text.annotation.added", "annotation": {"type": "url_citation", "title": "jane.doe@example.com"}}),
        json!({"type": "response.completed", "response": {"status": "completed", "output": [
            {"type": "message", "content": [{"type": "output_text", "text": "only here: 123-45-6789"}]},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "jane.doe@example.com"}]},
        ]}}),
    ];
    let (out, end) = run_masked(evs).await;
    assert!(end.is_none(), "{end:?}");
    let all = serde_json::to_string(&out).unwrap();
    assert!(
        !all.contains("jane.doe") && !all.contains("123-45-6789"),
        "{all}"
    );
    assert_eq!(out.len(), 4, "every event still passes");
}

#[tokio::test]
async fn through_the_local_server_in_any_number_of_deltas() {
    let server = LocalServer::start().await.unwrap();
    #[openai_client(api = responses)]
    struct Live {
        #[inner]
        client:
            openai_hooks::async_openai::Client<openai_hooks::async_openai::config::OpenAIConfig>,
        #[on_chunk]
        pii: Pii,
    }
    let client = Live {
        client: openai_hooks::async_openai::Client::with_config(
            openai_hooks::async_openai::config::OpenAIConfig::new()
                .with_api_base(server.base_url()),
        ),
        pii: Pii::new(),
    };
    let text = "write to jane.doe@example.com or call 555-123-4567 today";
    for n in 1..=text.len() {
        server.push(
            Reply::text(text)
                .chunks(n)
                .reasoning_summary("user jane.doe@example.com"),
        );
        let (out, end) = drain(client.create_stream(request()).await.unwrap()).await;
        assert!(end.is_none(), "{n}: {end:?}");
        let all = serde_json::to_string(&out).unwrap();
        assert!(
            !all.contains("jane.doe") && !all.contains("555-123-4567"),
            "{n}: {all}"
        );
        assert_eq!(
            deltas(&out, "response.output_text.delta"),
            "write to <EMAIL_ADDRESS> or call <PHONE_NUMBER> today",
            "{n}"
        );
        assert_eq!(
            deltas(&out, "response.reasoning_summary_text.delta"),
            "user <EMAIL_ADDRESS>",
            "{n}"
        );
        assert_eq!(Pii::new().name(), "pii");
    }
    server.shutdown().await;
}
