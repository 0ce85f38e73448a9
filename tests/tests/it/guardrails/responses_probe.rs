//! Adversarial probes of the scanning guardrails on the Responses API:
//! broken or hostile servers and careless models trying to get a planted
//! value past the event hooks (and the whole-reply hooks) in a field, an
//! event or an order the guardrails might not expect.

use std::sync::Mutex;

use futures::StreamExt;
use openai_hooks::async_openai::types::responses::{CreateResponse, CreateResponseArgs};
use openai_hooks::guardrails::{Keywords, Pii, SecretAction, SecretKeys};
use openai_hooks::types::responses::{Response, ResponseEvent, ResponsesRequest};
use openai_hooks::{
    ClientError, HookContext, PreRequest, ResponseStream, ResponsesClient, openai_client,
};
use serde_json::{Value, json};

/// An inner client that streams the events it is given, or returns the
/// response it is given.
struct Scripted(Mutex<Option<Vec<Value>>>);

impl Scripted {
    fn new(events: Vec<Value>) -> Self {
        Self(Mutex::new(Some(events)))
    }
}

impl ResponsesClient for Scripted {
    async fn create(&self, _: ResponsesRequest) -> Result<Response, ClientError> {
        let mut v = self.0.lock().unwrap().take().unwrap();
        Ok(serde_json::from_value(v.remove(0)).unwrap())
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
    #[post_response]
    pii: Pii,
    #[on_chunk]
    #[post_response]
    secrets: SecretKeys,
    #[on_chunk]
    #[post_response]
    words: Keywords,
}

fn masked(events: Vec<Value>) -> Masked {
    Masked {
        client: Scripted::new(events),
        pii: Pii::new(),
        secrets: SecretKeys::new().action(SecretAction::Mask),
        words: Keywords::new(["project zephyr"]).unwrap(),
    }
}

fn request() -> ResponsesRequest {
    CreateResponseArgs::default()
        .model("m")
        .input("hi")
        .build()
        .unwrap()
}

const EMAIL: &str = "jane.doe@example.com";
const SSN: &str = "123-45-6789";
const KEY: &str = "sk-proj-4fT9qLm2Xv8RkP0sWz7YbN3c";

/// Everything the caller got: every event, and the error that ended the
/// stream, as one string.
async fn stream(events: Vec<Value>) -> String {
    let client = masked(events);
    let mut s = client.create_stream(request()).await.unwrap();
    let mut out = Vec::new();
    let mut end = String::new();
    while let Some(item) = s.next().await {
        match item {
            Ok(e) => out.push(e),
            Err(e) => {
                end = format!("{e} {e:?}");
                break;
            }
        }
    }
    format!("{} {end}", serde_json::to_string(&out).unwrap())
}

fn assert_clean(all: &str) {
    for plant in [EMAIL, SSN, KEY] {
        assert!(!all.contains(plant), "{plant} leaked: {all}");
    }
    assert!(
        !all.to_lowercase().contains("project zephyr"),
        "blocked term leaked: {all}"
    );
}

fn created() -> Value {
    json!({"type": "response.created", "response": {"status": "in_progress", "output": []}})
}

fn completed() -> Value {
    json!({"type": "response.completed", "response": {"status": "completed", "output": []}})
}

fn delta(output: u32, content: u32, d: &str) -> Value {
    json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": output,
           "content_index": content, "delta": d})
}

// Attack: a whole text in the `text` field of a delta event (only `delta` is read).
#[tokio::test]
async fn text_field_on_a_delta_event() {
    let mut d = delta(0, 0, "ok ");
    d["text"] = json!(format!("mail {EMAIL}"));
    assert_clean(&stream(vec![created(), d, completed()]).await);
}

// Attack: a vendor field (`transcript`) on a known delta event.
#[tokio::test]
async fn vendor_field_on_a_delta_event() {
    let mut d = delta(0, 0, "ok ");
    d["transcript"] = json!(format!("ssn {SSN}"));
    assert_clean(&stream(vec![created(), d, completed()]).await);
}

// Attack: a `.done` of one kind carrying the other kind's whole-text field.
#[tokio::test]
async fn refusal_done_with_a_text_field() {
    let done = json!({"type": "response.refusal.done", "output_index": 0, "content_index": 0,
                      "refusal": "no", "text": format!("key {KEY}"), "delta": format!("{SSN}")});
    assert_clean(&stream(vec![created(), delta(0, 0, "hi"), done, completed()]).await);
}

// Attack: a delta event that also carries a whole `response` (or `item`, `part`).
#[tokio::test]
async fn delta_event_carrying_a_response_item_and_part() {
    let mut d = delta(0, 0, "ok ");
    d["response"] = json!({"output": [{"type": "message", "content": [{"type": "output_text", "text": EMAIL}]}]});
    d["item"] = json!({"type": "message", "content": [{"type": "output_text", "text": SSN}]});
    d["part"] = json!({"type": "output_text", "text": KEY});
    assert_clean(&stream(vec![created(), d, completed()]).await);
}

// Attack: a part of a type this crate does not know, whose text is a vendor field.
#[tokio::test]
async fn unknown_part_type_with_a_transcript() {
    let item = json!({"type": "message", "id": "msg_1", "content": [
        {"type": "output_audio", "transcript": format!("say {EMAIL}"), "data": "AAAA"}]});
    let evs = vec![
        created(),
        json!({"type": "response.content_part.added", "output_index": 0, "content_index": 0,
               "part": {"type": "output_audio", "transcript": format!("say {SSN}")}}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
        json!({"type": "response.completed", "response": {"status": "completed", "output": [item]}}),
    ];
    assert_clean(&stream(evs).await);
}

// Attack: vendor fields on an item (`transcript`, a tool's `name`, `action.query`).
#[tokio::test]
async fn vendor_fields_on_an_item() {
    let item = json!({"type": "web_search_call", "id": "ws_1", "status": "completed",
                      "action": {"type": "search", "query": format!("who is {EMAIL}")},
                      "name": format!("tool {SSN}")});
    let evs = vec![
        created(),
        json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
        json!({"type": "response.completed", "response": {"status": "completed", "output": [item]}}),
    ];
    assert_clean(&stream(evs).await);
}

// Attack: the terminal response carrying text in fields of its own (a
// server's `output_text`, a vendor's `summary`). What echoes the request
// (`instructions`, `tools`) is the caller's own and is left as sent.
#[tokio::test]
async fn terminal_response_top_level_fields() {
    let evs = vec![
        created(),
        json!({"type": "response.completed", "response": {"status": "completed", "output": [],
               "instructions": "operator ops@corp.test", "output_text": format!("{KEY}"),
               "vendor": {"summary": format!("mail {EMAIL}")}}}),
    ];
    let all = stream(evs).await;
    assert_clean(&all);
    assert!(
        all.contains("ops@corp.test"),
        "the echoed instructions are left: {all}"
    );
}

// Attack: citations with text outside `url` and `title` (a file citation's `filename`).
#[tokio::test]
async fn citation_fields_other_than_url_and_title() {
    let part = json!({"type": "output_text", "text": "see", "annotations": [
        {"type": "file_citation", "file_id": "f", "filename": format!("{SSN}.pdf")}]});
    let evs = vec![
        created(),
        json!({"type": "response.content_part.done", "output_index": 0, "content_index": 0, "part": part}),
        completed(),
    ];
    assert_clean(&stream(evs).await);
}

// Attack: an unknown event whose text is in `message` (a named field, not `extra`).
#[tokio::test]
async fn unknown_event_with_a_message() {
    let evs = vec![
        created(),
        json!({"type": "response.vendor.notice", "message": format!("hi {EMAIL}"), "code": SSN}),
        completed(),
    ];
    assert_clean(&stream(evs).await);
}

// Attack: a failed response's error code and param (only its message is scanned).
#[tokio::test]
async fn failed_response_error_fields_in_the_event() {
    let evs = vec![
        created(),
        json!({"type": "response.incomplete", "response": {"status": "incomplete", "output": [],
               "error": {"message": "x", "code": format!("c {SSN}"), "param": EMAIL},
               "incomplete_details": {"reason": format!("{KEY}")}}}),
    ];
    assert_clean(&stream(evs).await);
}

// Attack: text after `response.completed` (checked_events must not read it).
#[tokio::test]
async fn text_after_completed_is_not_read() {
    let evs = vec![
        created(),
        completed(),
        json!({"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": EMAIL}),
        json!({"type": "response.vendor", "x": SSN}),
    ];
    assert_clean(&stream(evs).await);
}

// Attack: text resumed after its `.done`, across a reused output index.
#[tokio::test]
async fn resume_after_done_and_reused_output_index() {
    let evs = vec![
        created(),
        delta(0, 0, "jane.doe@"),
        json!({"type": "response.output_text.done", "output_index": 0, "content_index": 0, "text": "x"}),
        json!({"type": "response.output_item.done", "output_index": 0,
               "item": {"type": "message", "content": [{"type": "output_text", "text": "x"}]}}),
        json!({"type": "response.output_item.added", "output_index": 0,
               "item": {"type": "message", "content": []}}),
        delta(0, 0, "example.com and 123-45-"),
        delta(0, 0, "6789"),
        completed(),
    ];
    let all = stream(evs).await;
    assert_clean(&all);
    assert!(!all.contains("example.com and"), "{all}");
}

// Attack: deltas with no indices at all, and a non-string `delta` on a known type.
#[tokio::test]
async fn deltas_with_no_indices_and_an_object_delta() {
    let evs = vec![
        created(),
        json!({"type": "response.output_text.delta", "delta": "write jane.doe@exa"}),
        json!({"type": "response.output_text.delta", "delta": "mple.com now"}),
        json!({"type": "response.output_text.delta", "delta": {"text": SSN}}),
        json!({"type": "response.refusal.delta", "delta": [KEY]}),
        completed(),
    ];
    assert_clean(&stream(evs).await);
}

// Attack: function arguments that are not JSON, custom tool input, reasoning text.
#[tokio::test]
async fn non_json_arguments_custom_input_and_reasoning_text() {
    let evs = vec![
        created(),
        json!({"type": "response.function_call_arguments.delta", "output_index": 1, "delta": "not json jane.doe@"}),
        json!({"type": "response.function_call_arguments.delta", "output_index": 1, "delta": "example.com"}),
        json!({"type": "response.custom_tool_call_input.delta", "output_index": 2, "delta": "123-45-"}),
        json!({"type": "response.custom_tool_call_input.delta", "output_index": 2, "delta": "6789"}),
        json!({"type": "response.custom_tool_call_input.done", "output_index": 2, "input": SSN}),
        json!({"type": "response.reasoning_text.delta", "output_index": 3, "content_index": 0, "delta": "sk-proj-4fT9qLm2"}),
        json!({"type": "response.reasoning_text.delta", "output_index": 3, "content_index": 0, "delta": "Xv8RkP0sWz7YbN3c"}),
        json!({"type": "response.reasoning_text.done", "output_index": 3, "content_index": 0, "text": KEY}),
        completed(),
    ];
    assert_clean(&stream(evs).await);
}

// Attack: a blocked term split over deltas with zero-width and fullwidth evasions.
#[tokio::test]
async fn evasions_split_across_deltas() {
    for text in [
        "pro\u{200b}ject zep\u{200b}hyr",
        "ｐｒｏｊｅｃｔ ｚｅｐｈｙｒ",
        "proje\u{301}ct zephyr",
    ] {
        let whole_blocked = Keywords::new(["project zephyr"])
            .unwrap()
            .check(text)
            .tripped;
        for cut in 1..text.len() {
            if !text.is_char_boundary(cut) {
                continue;
            }
            let evs = vec![
                created(),
                delta(0, 0, &text[..cut]),
                delta(0, 0, &text[cut..]),
                completed(),
            ];
            let client = masked(evs);
            let mut s = client.create_stream(request()).await.unwrap();
            let mut tripped = false;
            let mut got = String::new();
            while let Some(item) = s.next().await {
                match item {
                    Ok(e) if e.kind == "response.output_text.delta" => {
                        got.push_str(e.delta_text().unwrap())
                    }
                    Ok(_) => {}
                    Err(_) => {
                        tripped = true;
                        break;
                    }
                }
            }
            assert_eq!(tripped, whole_blocked, "{text:?} cut at {cut}: got {got:?}");
        }
    }
}

// Attack: an `error` event whose message carries PII: the event is masked,
// but the `ClientError::Api` that ends the stream is built from the raw
// event before any hook sees it.
#[tokio::test]
#[ignore = "leak: checked_events builds ClientError::Api from the raw error event, under the hooks; only key-shaped text is scrubbed from it"]
async fn error_event_message_reaches_the_caller_in_the_error() {
    for end in [
        json!({"type": "error", "code": "server_error", "message": format!("user {EMAIL} said hi")}),
        json!({"type": "response.failed", "response": {"status": "failed", "output": [],
               "error": {"code": "server_error", "message": format!("user {EMAIL} said hi")}}}),
        json!({"error": {"code": "server_error", "message": format!("user {EMAIL} said hi")}}),
    ] {
        assert_clean(&stream(vec![created(), end]).await);
    }
}

// Attack: more texts than the guardrail follows (each its own item): it must
// fail closed, not let the rest through unscanned.
#[tokio::test]
async fn more_texts_than_the_guardrail_follows() {
    let mut evs = vec![created()];
    for i in 0..400 {
        evs.push(delta(i, 0, "mail jane.doe@"));
        evs.push(delta(i, 0, "example.com"));
    }
    evs.push(completed());
    let all = stream(evs).await;
    assert_clean(&all);
    assert!(all.contains("Tripwire"), "the guardrail did not trip");
}

// Attack: a match split across two parts (or two items) of one message; a
// caller joining `output_text` (or every output_text delta) rebuilds it.
#[tokio::test]
async fn match_split_across_content_parts() {
    let item = json!({"type": "message", "content": [
        {"type": "output_text", "text": "jane.doe@"}, {"type": "output_text", "text": "example.com"}]});
    let evs = vec![
        created(),
        delta(0, 0, "jane.doe@"),
        delta(0, 1, "example.com"),
        json!({"type": "response.completed", "response": {"status": "completed", "output": [item]}}),
    ];
    let client = masked(evs);
    let mut s = client.create_stream(request()).await.unwrap();
    let mut joined = String::new();
    let mut end = None;
    while let Some(item) = s.next().await {
        match item {
            Ok(e) if e.kind == "response.output_text.delta" => {
                joined.push_str(e.delta_text().unwrap())
            }
            Ok(e) => {
                if let Some(r) = &e.response {
                    assert!(!r.output_text().contains(EMAIL), "{}", r.output_text());
                }
            }
            Err(e) => end = Some(e),
        }
    }
    assert!(!joined.contains(EMAIL), "{joined}");
    // The second part goes on from the first: the match is found across
    // them, and as its start was delivered, it blocks.
    assert!(
        matches!(end, Some(openai_hooks::ClientError::Hook(_))),
        "{end:?}"
    );
}

// Attack: post_response on `create` with the same shapes: an unknown part
// type's transcript, an item's vendor fields, the response's own fields.
#[tokio::test]
async fn create_reply_with_vendor_fields() {
    let reply = json!({"id": "r", "object": "response", "status": "completed", "model": "m",
    "output_text": format!("op {EMAIL}"),
    "output": [
        {"type": "message", "content": [
            {"type": "output_audio", "transcript": format!("say {SSN}")},
            {"type": "output_text", "text": "ok", "annotations": [{"type": "file_citation", "filename": KEY}]}]},
        {"type": "web_search_call", "action": {"type": "search", "query": EMAIL}, "name": SSN},
    ]});
    let client = masked(vec![reply]);
    let r = client.create(request()).await.unwrap();
    assert_clean(&serde_json::to_string(&r).unwrap());
}

// Attack: user text in a stored prompt's variables (strings and input_text parts).
#[tokio::test]
async fn prompt_variables_are_not_scanned() {
    let mut req: CreateResponse = serde_json::from_value(json!({
        "model": "m", "input": "hi",
        "prompt": {"id": "pmpt_1", "variables": {"customer": format!("email {EMAIL}"),
                                    "note": {"type": "input_text", "text": format!("ssn {SSN}")}}},
    }))
    .unwrap();
    let mut cx = HookContext::new("m");
    PreRequest::<ResponsesRequest>::pre_request(&Pii::new(), &mut req, &mut cx)
        .await
        .unwrap();
    assert_clean(&serde_json::to_string(&req).unwrap());
}

/// What the caller gets from the deltas of event type `kind`, joined, and
/// everything as one string.
async fn joined(events: Vec<Value>, kind: &str) -> (String, String) {
    let client = masked(events);
    let mut s = client.create_stream(request()).await.unwrap();
    let mut out = Vec::new();
    let mut text = String::new();
    while let Some(Ok(e)) = s.next().await {
        if e.kind == kind {
            text.push_str(e.delta_text().unwrap_or_default());
        }
        out.push(e);
    }
    (text, serde_json::to_string(&out).unwrap())
}

// Attack: OpenAI's own streamed texts this crate has no name for (audio
// transcript, code interpreter code, MCP arguments), a match cut across deltas.
#[tokio::test]
async fn streamed_text_of_event_types_the_crate_does_not_name() {
    for stem in [
        "response.audio.transcript",
        "response.code_interpreter_call_code",
        "response.mcp_call_arguments",
    ] {
        let kind = format!("{stem}.delta");
        let evs = vec![
            created(),
            json!({"type": kind, "output_index": 0, "item_id": "x_1", "delta": "mail jane.doe@exa"}),
            json!({"type": kind, "output_index": 0, "item_id": "x_1", "delta": "mple.com, ssn 123-4"}),
            json!({"type": kind, "output_index": 0, "item_id": "x_1", "delta": "5-6789 ok"}),
            json!({"type": format!("{stem}.done"), "output_index": 0, "item_id": "x_1"}),
            completed(),
        ];
        let (text, all) = joined(evs, &kind).await;
        assert_clean(&text);
        assert_clean(&all);
        assert_eq!(text, "mail <EMAIL_ADDRESS>, ssn <US_SSN> ok", "{stem}");
    }
}

// Attack: function-call argument deltas whose `content_index` changes mid-text
// (meaningless on a call; a caller joins a call's deltas by item).
#[tokio::test]
async fn argument_deltas_with_changing_content_index() {
    let evs = vec![
        created(),
        json!({"type": "response.function_call_arguments.delta", "output_index": 0, "item_id": "fc_1",
               "content_index": 0, "delta": "{\"to\": \"jane.doe@"}),
        json!({"type": "response.function_call_arguments.delta", "output_index": 0, "item_id": "fc_1",
               "content_index": 1, "delta": "example.com\"}"}),
        completed(),
    ];
    let (text, all) = joined(evs, "response.function_call_arguments.delta").await;
    assert_clean(&text);
    assert_clean(&all);
}

// Attack: custom tool input deltas whose `content_index` changes mid-text.
#[tokio::test]
async fn custom_input_deltas_with_changing_content_index() {
    let evs = vec![
        created(),
        json!({"type": "response.custom_tool_call_input.delta", "output_index": 0, "item_id": "ct_1",
               "content_index": 0, "delta": "send to jane.doe@"}),
        json!({"type": "response.custom_tool_call_input.delta", "output_index": 0, "item_id": "ct_1",
               "content_index": 3, "delta": "example.com now"}),
        completed(),
    ];
    let (text, all) = joined(evs, "response.custom_tool_call_input.delta").await;
    assert_clean(&text);
    assert_clean(&all);
    assert_eq!(text, "send to <EMAIL_ADDRESS> now");
}

// Attack: a secret in the output of a built-in tool (local shell, shell,
// apply_patch) sent back to the model: tool output like a function's.
#[tokio::test]
async fn built_in_tool_outputs_in_the_request() {
    for item in [
        json!({"type": "local_shell_call_output", "id": "ls_1", "output": format!("env: {KEY} {EMAIL}")}),
        json!({"type": "shell_call_output", "call_id": "c1", "output": [
            {"stdout": format!("ok {EMAIL}"), "stderr": format!("warn {KEY}"), "outcome": {"type": "exit", "exit_code": 0}}]}),
        json!({"type": "apply_patch_call_output", "call_id": "c2", "status": "completed", "output": format!("patched {EMAIL}")}),
    ] {
        let mut req: CreateResponse =
            serde_json::from_value(json!({"model": "m", "input": [item.clone()]})).unwrap();
        let mut cx = HookContext::new("m");
        PreRequest::<ResponsesRequest>::pre_request(&Pii::new(), &mut req, &mut cx)
            .await
            .unwrap();
        PreRequest::<ResponsesRequest>::pre_request(
            &SecretKeys::new().action(SecretAction::Mask),
            &mut req,
            &mut cx,
        )
        .await
        .unwrap();
        assert_clean(&serde_json::to_string(&req).unwrap());
    }
}

// Attack: a text begun in the `content_part.added` (or `output_item.added`)
// that announces it and continued by deltas: an accumulating caller (as
// OpenAI's SDKs do) appends the deltas to the part's text.
#[tokio::test]
async fn text_begun_in_the_added_event_and_continued_by_deltas() {
    for added in [
        json!({"type": "response.content_part.added", "item_id": "msg_1", "output_index": 0, "content_index": 0,
               "part": {"type": "output_text", "text": "mail jane.doe@exa"}}),
        json!({"type": "response.output_item.added", "output_index": 0,
               "item": {"type": "message", "id": "msg_1", "content": [{"type": "output_text", "text": "mail jane.doe@exa"}]}}),
    ] {
        let evs = vec![
            created(),
            added.clone(),
            delta(0, 0, "mple.com now"),
            completed(),
        ];
        let client = masked(evs);
        let mut s = client.create_stream(request()).await.unwrap();
        let mut text = String::new();
        while let Some(Ok(e)) = s.next().await {
            if let Some(p) = e.part.as_ref().filter(|_| e.kind.ends_with(".added")) {
                text.push_str(p.text.as_deref().unwrap_or_default());
            }
            if let Some(i) = e.item.as_ref().filter(|_| e.kind.ends_with(".added")) {
                text.push_str(&i.output_text());
            }
            text.push_str(e.delta_text().unwrap_or_default());
        }
        assert_clean(&text);
        assert_eq!(text, "mail <EMAIL_ADDRESS> now", "{added}");
    }
}

// Attack: output_text deltas with a stray, changing `summary_index` (which
// only summary events use); a caller places them by `content_index`.
#[tokio::test]
async fn stray_summary_index_on_output_text_deltas() {
    let mut a = delta(0, 0, "mail jane.doe@");
    a["summary_index"] = json!(0);
    let done = json!({"type": "response.output_text.done", "output_index": 0, "content_index": 0,
                      "summary_index": 0, "text": "x"});
    let mut b = delta(0, 0, "example.com now");
    b["summary_index"] = json!(1);
    let evs = vec![created(), a, done, b, completed()];
    let (text, all) = joined(evs, "response.output_text.delta").await;
    assert_clean(&text);
    assert_clean(&all);
}

// Attack: a vendor field on each delta spelling the text so far (a
// cumulative snapshot): each copy is scanned whole, so the ones cut inside a
// match show most of it.
#[tokio::test]
#[ignore = "leak: a vendor field that spells the text cumulatively is scanned whole per event, so a snapshot cut inside a match shows its prefix"]
async fn cumulative_snapshot_in_a_vendor_field() {
    let mut a = delta(0, 0, "mail jane.doe@examp");
    a["snapshot"] = json!("mail jane.doe@examp");
    let mut b = delta(0, 0, "le.com ok");
    b["snapshot"] = json!(format!("mail {EMAIL} ok"));
    let all = stream(vec![created(), a, b, completed()]).await;
    assert!(!all.contains("jane.doe@examp"), "{all}");
}

// Attack: an `output_item.done` and a terminal response with parts and items
// never streamed (refusal, summary, citation url and title), a keepalive with text.
#[tokio::test]
async fn parts_and_items_never_streamed_and_a_keepalive() {
    let item = json!({"type": "message", "id": "msg_1", "content": [
        {"type": "output_text", "text": "streamed", "annotations": [
            {"type": "url_citation", "url": format!("https://x.test/?u={EMAIL}"), "title": SSN}]},
        {"type": "refusal", "refusal": format!("no {KEY}")}]});
    let reasoning = json!({"type": "reasoning", "id": "rs_1",
        "summary": [{"type": "summary_text", "text": EMAIL}],
        "content": [{"type": "reasoning_text", "text": SSN}]});
    let evs = vec![
        created(),
        delta(0, 0, "streamed"),
        json!({"type": "keepalive", "message": EMAIL}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
        json!({"type": "response.completed", "response": {"status": "completed",
               "output": [item, reasoning, {"type": "function_call", "arguments": format!("{{\"a\": \"{EMAIL}\"}}")}]}}),
    ];
    assert_clean(&stream(evs).await);
}

// Attack: a text begun in the `response.created` snapshot's output and
// continued by deltas (an accumulating caller starts from that snapshot).
#[tokio::test]
async fn text_begun_in_the_created_snapshot() {
    let evs = vec![
        json!({"type": "response.created", "response": {"status": "in_progress", "output": [
            {"type": "message", "id": "msg_1", "content": [{"type": "output_text", "text": "mail jane.doe@exa"}]}]}}),
        delta(0, 0, "mple.com now"),
        completed(),
    ];
    let client = masked(evs);
    let mut s = client.create_stream(request()).await.unwrap();
    let mut text = String::new();
    while let Some(Ok(e)) = s.next().await {
        if e.kind == "response.created" {
            text.push_str(&e.response.as_ref().unwrap().output_text());
        }
        text.push_str(e.delta_text().unwrap_or_default());
    }
    assert_clean(&text);
    assert_eq!(text, "mail <EMAIL_ADDRESS> now");
}

// Attack: post_response on `create` with function arguments that are not
// JSON, or JSON with the value in a key, custom tool input, a refusal.
#[tokio::test]
async fn create_reply_with_arguments_that_are_not_json() {
    for args in [
        format!("not json {EMAIL}"),
        format!("{{\"{EMAIL}\": 1}}"),
        format!("{{\"a\": \"{SSN}\""),
        format!("[\"{KEY}\", {{\"b\": \"x project zephyr\"}}]"),
    ] {
        let reply = json!({"id": "r", "object": "response", "status": "completed", "model": "m",
            "output": [{"type": "function_call", "name": "f", "call_id": "c", "arguments": args},
                       {"type": "custom_tool_call", "name": "g", "call_id": "d", "input": EMAIL},
                       {"type": "message", "content": [{"type": "refusal", "refusal": SSN}]}]});
        let client = masked(vec![reply]);
        match client.create(request()).await {
            Ok(r) => assert_clean(&serde_json::to_string(&r).unwrap()),
            Err(e) => assert!(matches!(e, ClientError::Hook(_)), "{e:?}"),
        }
    }
}

// Attack: function arguments whose JSON spells the value with escapes
// (`\u0040`, `\u002d`, `\/`) or puts it in a key, under every cut of two
// deltas; the caller parses the JSON and gets the value back.
#[tokio::test]
async fn json_escapes_and_keys_in_streamed_arguments() {
    for args in [
        r#"{"to": "jane.doe\u0040example.com"}"#,
        r#"{"ssn": "123\u002d45\u002d6789"}"#,
        r#"{"jane.doe@example.com": true}"#,
        r#"{"k": "sk\u002dproj-4fT9qLm2Xv8RkP0sWz7YbN3c"}"#,
    ] {
        for cut in 0..=args.len() {
            let evs = vec![
                created(),
                json!({"type": "response.function_call_arguments.delta", "output_index": 0, "item_id": "fc_1", "delta": &args[..cut]}),
                json!({"type": "response.function_call_arguments.delta", "output_index": 0, "item_id": "fc_1", "delta": &args[cut..]}),
                json!({"type": "response.function_call_arguments.done", "output_index": 0, "item_id": "fc_1", "arguments": args}),
                completed(),
            ];
            let (text, all) = joined(evs, "response.function_call_arguments.delta").await;
            let decoded = serde_json::from_str::<Value>(&text)
                .map(|v| v.to_string())
                .unwrap_or_else(|_| text.clone());
            assert_clean(&decoded);
            assert_clean(&all);
            assert_clean(&text);
        }
        let reply = json!({"id": "r", "object": "response", "status": "completed", "model": "m",
            "output": [{"type": "function_call", "name": "f", "call_id": "c", "arguments": args}]});
        let r = masked(vec![reply]).create(request()).await.unwrap();
        let a = r.output[0].arguments.clone().unwrap();
        let decoded = serde_json::from_str::<Value>(&a)
            .map(|v| v.to_string())
            .unwrap_or(a);
        assert_clean(&decoded);
    }
}

// Attack: summary deltas with no `summary_index` and a stray, changing
// `content_index`; a lenient caller puts them all in summary part 0.
#[tokio::test]
async fn summary_deltas_with_a_stray_content_index() {
    let d = |c: u32, t: &str| {
        json!({"type": "response.reasoning_summary_text.delta", "output_index": 0, "item_id": "rs_1",
               "content_index": c, "delta": t})
    };
    let done = json!({"type": "response.reasoning_summary_text.done", "output_index": 0, "item_id": "rs_1",
                      "content_index": 0, "text": "x"});
    let evs = vec![
        created(),
        d(0, "user jane.doe@"),
        done,
        d(1, "example.com ok"),
        completed(),
    ];
    let (text, all) = joined(evs, "response.reasoning_summary_text.delta").await;
    assert_clean(&text);
    assert_clean(&all);
}

#[openai_client(api = responses)]
struct Urls {
    #[inner]
    client: Scripted,
    #[on_chunk]
    urls: openai_hooks::guardrails::UrlFilter,
}

// Attack: a URL outside the allow list cut across deltas, and in a web
// search's sources; the request settings echoed on the terminal response
// (tool descriptions with URLs) are the caller's own and do not trip.
#[tokio::test]
async fn url_filter_on_cut_deltas_and_search_sources() {
    let run = |evs: Vec<Value>| async move {
        let client = Urls {
            client: Scripted::new(evs),
            urls: openai_hooks::guardrails::UrlFilter::new(["example.com"]).unwrap(),
        };
        let mut s = client.create_stream(request()).await.unwrap();
        let mut out = String::new();
        let mut tripped = false;
        while let Some(item) = s.next().await {
            match item {
                Ok(e) => out.push_str(&serde_json::to_string(&e).unwrap()),
                Err(_) => tripped = true,
            }
        }
        (out, tripped)
    };
    let (out, tripped) = run(vec![
        created(),
        delta(0, 0, "see https://ev"),
        delta(0, 0, "il.test/x now"),
        completed(),
    ])
    .await;
    assert!(tripped && !out.contains("evil.test"), "{out}");
    let search = json!({"type": "web_search_call", "id": "ws_1", "status": "completed",
        "action": {"type": "search", "query": "q", "sources": [{"type": "url", "url": "https://evil.test/a"}]}});
    let (out, tripped) = run(vec![
        created(),
        json!({"type": "response.output_item.done", "output_index": 0, "item": search}),
        completed(),
    ])
    .await;
    assert!(tripped && !out.contains("evil.test"), "{out}");
    let (out, tripped) = run(vec![
        created(),
        json!({"type": "response.completed", "response": {"status": "completed", "output": [],
            "tools": [{"type": "function", "name": "f", "description": "docs at https://docs.internal.test/f"}]}}),
    ])
    .await;
    assert!(!tripped, "{out}");
}

// Not a leak: a long audio stream (`response.audio.delta`, base64) is not
// text; it passes unchanged and does not count against the text limits.
#[tokio::test]
async fn audio_deltas_are_not_text() {
    let chunk = "QUJD".repeat(1 << 18); // 1 MiB of base64
    let mut evs = vec![created()];
    for _ in 0..10 {
        evs.push(json!({"type": "response.audio.delta", "output_index": 0, "delta": chunk}));
    }
    evs.push(completed());
    let client = masked(evs);
    let mut s = client.create_stream(request()).await.unwrap();
    let mut n = 0;
    while let Some(item) = s.next().await {
        let e = item.unwrap();
        if e.kind == "response.audio.delta" {
            assert_eq!(e.delta_text(), Some(chunk.as_str()));
            n += 1;
        }
    }
    assert_eq!(n, 10);
}

// Attack: text, not base64, in an audio delta.
#[tokio::test]
async fn text_in_an_audio_delta() {
    let evs = vec![
        created(),
        json!({"type": "response.audio.delta", "output_index": 0, "delta": format!("mail {EMAIL}")}),
        completed(),
    ];
    assert_clean(&stream(evs).await);
}

// Attack: a vendor field whose name is empty.
#[tokio::test]
async fn a_vendor_field_with_an_empty_name() {
    let mut d = delta(0, 0, "ok");
    d[""] = json!(format!("mail {EMAIL}"));
    assert_clean(&stream(vec![created(), d, completed()]).await);
}
