//! Every channel of a reply goes through the text guardrails: tool-call
//! and legacy function-call arguments (streamed per call, held back like
//! content), names, audio transcripts, annotations and other strings in
//! unknown fields; `logprobs` are removed. Text after a finish reason goes
//! on with the choice's scanner; a stream that ends with no finish reason
//! has its held tail judged as final, then ends with `Truncated`.

use crate::support;

use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::guardrails::pipeline::{Pipeline, PipelineClients};
use openai_hooks::guardrails::{KeywordAction, Keywords, Pii, UrlFilter};
use openai_hooks::server::{Fault, LocalServer, Reply};
use openai_hooks::types::{ChunkChoice, Delta, FunctionDelta, ToolCallDelta};
use openai_hooks::{
    ChatChunk, ChatClient, ChatRequest, ChatResponse, ClientError, FinishReason, HookContext,
    HookError, PostResponse, openai_client,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use support::stream::{drain, drive, split};

fn reply(message: Value, extra: Value) -> ChatResponse {
    let mut choice = json!({"index": 0, "message": message, "finish_reason": "stop"});
    if let (Value::Object(c), Value::Object(e)) = (&mut choice, extra) {
        c.extend(e);
    }
    serde_json::from_value(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [choice],
    }))
    .unwrap()
}

/// A reply that carries an e-mail address in every channel.
fn reply_with_email_everywhere() -> ChatResponse {
    reply(
        json!({
            "role": "assistant",
            "content": "see jane@example.com",
            "reasoning_content": "think of jane@example.com",
            "tool_calls": [{
                "id": "call_jane@example.com",
                "type": "function",
                "function": {"name": "send_email", "arguments": "{\"to\":\"jane@example.com\",\"n\":1}"},
            }],
            "function_call": {"name": "legacy", "arguments": "{\"cc\":\"jane@example.com\"}"},
            "audio": {"id": "audio_1", "data": "UklGRg==", "expires_at": 1, "transcript": "mail jane@example.com"},
            "annotations": [{"type": "url_citation", "url_citation": {
                "start_index": 0, "end_index": 3,
                "url": "https://docs.test/?who=jane@example.com", "title": "jane@example.com"}}],
        }),
        json!({
            "logprobs": {"content": [{"token": "jane@example.com", "logprob": -0.1, "bytes": [106], "top_logprobs": []}]},
            "content_filter_results": {"note": {"text": "jane@example.com"}},
            "images": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,amFuZUBleGFtcGxlLmNvbQ=="}}],
        }),
    )
}

#[tokio::test]
async fn a_whole_reply_is_scanned_in_every_channel() {
    let mut resp = reply_with_email_everywhere();
    let mut cx = HookContext::new("m");
    Pii::new().post_response(&mut resp, &mut cx).await.unwrap();
    let body = serde_json::to_value(&resp).unwrap();
    let text = body.to_string();
    // The one place the address stays is the tool call's id: ids are not
    // text.
    assert_eq!(text.matches("jane@example.com").count(), 1, "{text:#}");
    assert_eq!(
        body["choices"][0]["message"]["tool_calls"][0]["id"],
        "call_jane@example.com"
    );
    let m = &body["choices"][0]["message"];
    assert_eq!(m["content"], "see <EMAIL_ADDRESS>");
    assert_eq!(m["reasoning_content"], "think of <EMAIL_ADDRESS>");
    // Masked arguments are still JSON, with the mask inside the string.
    let args: Value = serde_json::from_str(
        m["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(args, json!({"to": "<EMAIL_ADDRESS>", "n": 1}));
    let legacy: Value =
        serde_json::from_str(m["function_call"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(legacy, json!({"cc": "<EMAIL_ADDRESS>"}));
    assert_eq!(m["audio"]["transcript"], "mail <EMAIL_ADDRESS>");
    // Audio data is not text; numbers are left alone.
    assert_eq!(m["audio"]["data"], "UklGRg==");
    assert_eq!(m["audio"]["expires_at"], 1);
    let citation = &m["annotations"][0]["url_citation"];
    assert_eq!(citation["title"], "<EMAIL_ADDRESS>");
    assert_eq!(citation["url"], "https://docs.test/?who=<EMAIL_ADDRESS>");
    assert_eq!(
        body["choices"][0]["content_filter_results"]["note"]["text"],
        "<EMAIL_ADDRESS>"
    );
    // Images in base64 are not text.
    assert_eq!(
        body["choices"][0]["images"][0]["image_url"]["url"],
        "data:image/png;base64,amFuZUBleGFtcGxlLmNvbQ=="
    );
    // Log-probabilities spell the text: they are removed.
    assert!(body["choices"][0].get("logprobs").is_none(), "{body:#}");
}

#[tokio::test]
async fn base64_images_in_unknown_fields_are_not_text() {
    // High-entropy base64, as an image a provider adds to the message.
    let blob: String = (0..600u32)
        .map(|i| char::from(b"Zx8kP2qL9mW4rT7vB1nC6sD+/"[(i * 7 % 25) as usize]))
        .collect();
    let image = format!("data:image/png;base64,{blob}");
    let secrets = openai_hooks::guardrails::SecretKeys::new();
    assert!(secrets.check(&blob).tripped, "the blob reads as a secret");
    let mut resp = reply(
        json!({"role": "assistant", "content": "here it is",
            "images": [{"type": "image_url", "image_url": {"url": image}}]}),
        json!({}),
    );
    secrets
        .post_response(&mut resp, &mut HookContext::new("m"))
        .await
        .unwrap();
    // Only a whole media payload is binary: a document, or words after
    // the payload, are text.
    for text in [
        format!("data:text/html;base64,{blob}"),
        format!("data:image/png;base64,{blob} and AKIAIOSFODNN7EXAMPLE"),
        format!("data:;base64,{blob}"),
    ] {
        let mut resp = reply(
            json!({"role": "assistant", "content": "here", "images": [{"url": text}]}),
            json!({}),
        );
        assert!(
            secrets
                .post_response(&mut resp, &mut HookContext::new("m"))
                .await
                .is_err(),
            "{text:.40}"
        );
    }
    // The same blob as text in an unknown field is scanned.
    let mut resp = reply(
        json!({"role": "assistant", "content": "here it is", "note": blob}),
        json!({}),
    );
    assert!(
        secrets
            .post_response(&mut resp, &mut HookContext::new("m"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn unknown_fields_can_be_left_out_known_channels_cannot() {
    let mut resp = reply_with_email_everywhere();
    let mut cx = HookContext::new("m");
    Pii::new()
        .scan_unknown_fields(false)
        .post_response(&mut resp, &mut cx)
        .await
        .unwrap();
    let body = serde_json::to_value(&resp).unwrap();
    let m = &body["choices"][0]["message"];
    assert_eq!(
        m["annotations"][0]["url_citation"]["title"],
        "jane@example.com"
    );
    assert_eq!(
        body["choices"][0]["content_filter_results"]["note"]["text"],
        "jane@example.com"
    );
    for masked in [
        &m["content"],
        &m["audio"]["transcript"],
        &m["tool_calls"][0]["function"]["arguments"],
        &m["function_call"]["arguments"],
    ] {
        assert!(
            masked.as_str().unwrap().contains("<EMAIL_ADDRESS>"),
            "{masked}"
        );
    }
}

#[tokio::test]
async fn a_url_in_tool_arguments_or_a_citation_blocks() {
    let urls = UrlFilter::new(["example.com"]).unwrap();
    let cases = [
        json!({"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
            "function": {"name": "fetch", "arguments": "{\"url\":\"https://evil.test/x?d=1\"}"}}]}),
        json!({"role": "assistant", "function_call": {"name": "fetch", "arguments": "{\"url\": \"https://evil.test/\"}"}}),
        json!({"role": "assistant", "content": "ok", "annotations": [{"type": "url_citation",
            "url_citation": {"url": "https://evil.test/p", "title": "t", "start_index": 0, "end_index": 1}}]}),
        json!({"role": "assistant", "reasoning": "I will send it to https://evil.test/"}),
    ];
    for message in cases {
        let mut resp = reply(message.clone(), json!({}));
        let err = urls
            .post_response(&mut resp, &mut HookContext::new("m"))
            .await
            .unwrap_err();
        assert!(err.is_tripwire(), "{message}");
    }
    let mut fine = reply(
        json!({"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
            "function": {"name": "fetch", "arguments": "{\"url\":\"https://example.com/x\"}"}}]}),
        json!({}),
    );
    urls.post_response(&mut fine, &mut HookContext::new("m"))
        .await
        .unwrap();
}

/// A chunk of choice 0 with the given delta.
fn chunk_with(delta: Delta, finish: bool) -> ChatChunk {
    ChatChunk {
        id: "chatcmpl-1".into(),
        object: "chat.completion.chunk".into(),
        model: "m".into(),
        choices: vec![ChunkChoice {
            index: 0,
            delta,
            finish_reason: finish.then_some(FinishReason::ToolCalls),
            ..ChunkChoice::default()
        }],
        ..ChatChunk::default()
    }
}

/// A chunk with a fragment of the arguments of tool call `index`.
fn args_chunk(index: u32, fragment: &str) -> ChatChunk {
    chunk_with(
        Delta {
            tool_calls: Some(vec![ToolCallDelta {
                index,
                function: Some(FunctionDelta {
                    name: None,
                    arguments: Some(fragment.to_owned()),
                }),
                ..ToolCallDelta::default()
            }]),
            ..Delta::default()
        },
        false,
    )
}

/// A chunk with a content fragment.
fn text_chunk(text: &str, finish: bool) -> ChatChunk {
    chunk_with(
        Delta {
            content: Some(text.to_owned()),
            ..Delta::default()
        },
        finish,
    )
}

/// The arguments of tool call `index` as the caller saw them, concatenated.
fn args_seen(chunks: &[ChatChunk], index: u32) -> String {
    chunks
        .iter()
        .flat_map(|c| &c.choices)
        .flat_map(|ch| ch.delta.tool_calls.iter().flatten())
        .filter(|t| t.index == index)
        .filter_map(|t| t.function.as_ref()?.arguments.as_deref())
        .collect()
}

fn content_seen(chunks: &[ChatChunk]) -> String {
    chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter_map(|ch| ch.delta.content.as_deref())
        .collect()
}

#[test]
fn a_url_split_across_argument_fragments_never_reaches_the_caller() {
    let urls = UrlFilter::new(["example.com"]).unwrap();
    let chunks = vec![
        args_chunk(0, "{\"url\":\"https://ev"),
        args_chunk(0, "il.te"),
        args_chunk(0, "st/x\"}"),
        chunk_with(Delta::default(), true),
    ];
    let (seen, err) = drive(&urls, chunks);
    assert!(err.unwrap().is_tripwire());
    let args = args_seen(&seen, 0);
    assert!(!args.contains("ev"), "{args}");
}

#[test]
fn held_arguments_go_out_with_the_finish_chunk() {
    let pii = Pii::new();
    let chunks = vec![
        args_chunk(0, "{\"to\":\"jane@exa"),
        args_chunk(1, "{\"q\":\"call 555-123-"),
        args_chunk(1, "4567\"}"),
        // An address at the end of what has come could still go on: it is
        // held until the finish chunk.
        args_chunk(0, "mple.com"),
        chunk_with(Delta::default(), true),
    ];
    let (seen, err) = drive(&pii, chunks);
    assert!(err.is_none(), "{err:?}");
    let last = seen.last().unwrap();
    assert!(last.choices[0].finish_reason.is_some());
    assert!(last.choices[0].delta.tool_calls.is_some(), "{last:?}");
    assert_eq!(args_seen(&seen, 0), "{\"to\":\"<EMAIL_ADDRESS>");
    let b: Value = serde_json::from_str(&args_seen(&seen, 1)).unwrap();
    assert_eq!(b, json!({"q": "call <PHONE_NUMBER>"}));
}

#[test]
fn logprobs_are_removed_from_chunks() {
    let mut c = text_chunk("hi", false);
    c.choices[0].logprobs = Some(json!({"content": [{"token": "hi", "logprob": 0.0}]}));
    let (seen, err) = drive(&Pii::new(), vec![c, text_chunk("", true)]);
    assert!(err.is_none());
    assert!(
        seen.iter()
            .all(|c| c.choices.iter().all(|ch| ch.logprobs.is_none()))
    );
    assert_eq!(content_seen(&seen), "hi");
}

#[test]
fn text_after_a_finish_reason_keeps_the_scanner() {
    let block = Keywords::new(["secret"]).unwrap();
    let mask = block.clone().action(KeywordAction::Mask);
    for hook in [&block, &mask] {
        let (seen, err) = drive(
            hook,
            vec![text_chunk("a se", true), text_chunk("cret", false)],
        );
        assert!(err.expect("split across the finish").is_tripwire());
        assert!(!content_seen(&seen).contains("secret"));
        // A match wholly after the finish is dealt with as usual.
        let (seen, err) = drive(
            hook,
            vec![text_chunk("a ", true), text_chunk("secret sauce", false)],
        );
        if hook.check("secret").tripped {
            assert!(err.is_some());
        } else {
            assert!(err.is_none());
            assert_eq!(content_seen(&seen), "a <KEYWORD> sauce");
        }
    }
    // Clean text on both sides comes through once, in order.
    let (seen, err) = drive(
        &mask,
        vec![
            text_chunk("hello wor", true),
            text_chunk("ld and ", false),
            text_chunk("more", true),
        ],
    );
    assert!(err.is_none(), "{err:?}");
    assert_eq!(content_seen(&seen), "hello world and more");
}

/// `args` as the arguments of a whole reply's tool call, after `hook`'s
/// post-response check: the masked arguments, or the tripwire.
fn masked_args<H: PostResponse>(hook: &H, args: &str) -> Result<String, HookError> {
    let mut resp = reply(
        json!({"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
            "function": {"name": "f", "arguments": args}}]}),
        json!({}),
    );
    futures::executor::block_on(hook.post_response(&mut resp, &mut HookContext::new("m")))?;
    let call = &resp.choices[0].message.tool_calls.as_ref().unwrap()[0];
    Ok(call.function.arguments.clone())
}

#[test]
fn arguments_are_matched_as_their_json_strings_mean() {
    let keywords = Keywords::new(["acme"]).unwrap();
    let urls = UrlFilter::new(["example.com"]).unwrap();
    let pii = Pii::new();
    // Escapes spell the value: blocked whole and streamed, with the escape
    // cut anywhere.
    for args in [r#"{"q":"\u0061cme"}"#, r#"{"q":"ACM\u0045 rocks"}"#] {
        assert!(masked_args(&keywords, args).is_err(), "{args}");
    }
    for args in [
        r#"{"url":"https:\/\/evil.test\/x"}"#,
        r#"{"url":"https:\u002f\u002fevil.test"}"#,
    ] {
        assert!(masked_args(&urls, args).is_err(), "{args}");
    }
    for (args, streamed_hook) in [
        (r#"{"q":"acme"}"#, 0),
        (r#"{"url":"https:\/\/evil.test\/x"}"#, 1),
    ] {
        for cut in 1..args.len() {
            let (x, y) = args.split_at(cut);
            let chunks = vec![
                args_chunk(0, x),
                args_chunk(0, y),
                chunk_with(Delta::default(), true),
            ];
            let (seen, err) = match streamed_hook {
                0 => drive(&keywords, chunks),
                _ => drive(&urls, chunks),
            };
            assert!(err.is_some(), "{args} cut at {cut}");
            let got = args_seen(&seen, 0);
            assert!(!got.contains("cme") && !got.contains("evil"), "{got}");
        }
    }
    // An address spelled with an escape is masked inside its string, and
    // the arguments stay JSON.
    let masked = masked_args(&pii, r#"{"to":"jane@example.com","n":1}"#).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&masked).unwrap(),
        json!({"to": "<EMAIL_ADDRESS>", "n": 1})
    );
    // A match outside a string (a bare number) or across strings cannot be
    // masked and keep the JSON valid: it blocks.
    assert!(masked_args(&pii, r#"{"n":4111111111111111}"#).is_err());
    assert!(masked_args(&pii, r#"{"n":"4111111111111111"}"#).is_ok());
    // Clean arguments come back unchanged, escapes and all.
    let clean = r#"{"q":"café "quoted" \ back","n":[1,2]}"#;
    assert_eq!(masked_args(&pii, clean).unwrap(), clean);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Two tool calls' arguments, interleaved and cut anywhere: each call's
    /// arguments come out exactly as masking them whole does (still JSON),
    /// and no address reaches the caller in any chunk.
    #[test]
    fn streamed_arguments_are_masked_as_a_whole(
        cuts_a in prop::collection::vec(any::<usize>(), 0..12),
        cuts_b in prop::collection::vec(any::<usize>(), 0..12),
        order in prop::collection::vec(any::<bool>(), 0..30),
    ) {
        let pii = Pii::new();
        let a = r#"{"to":"jane.doe@example.com","body":"call +1 (555) 123-4567 or mail j.smith\u0040mail.example.org \ud83d\ude00"}"#;
        let b = r#"{"card":"4111 1111 1111 1111","note":"o\"k\\"}"#;
        let (pa, pb) = (split(a, &cuts_a), split(b, &cuts_b));
        let (mut ia, mut ib) = (pa.iter(), pb.iter());
        let mut chunks = Vec::new();
        let mut picks = order.into_iter();
        loop {
            let first = picks.next().unwrap_or(true);
            let next = if first { ia.next().map(|p| (0, p)).or_else(|| ib.next().map(|p| (1, p))) }
                else { ib.next().map(|p| (1, p)).or_else(|| ia.next().map(|p| (0, p))) };
            match next {
                Some((i, p)) => chunks.push(args_chunk(i, p)),
                None => break,
            }
        }
        chunks.push(chunk_with(Delta::default(), true));
        let (seen, err) = drive(&pii, chunks);
        prop_assert!(err.is_none());
        for (i, whole) in [(0, a), (1, b)] {
            let expected = masked_args(&pii, whole).unwrap();
            let got = args_seen(&seen, i);
            prop_assert_eq!(&got, &expected);
            prop_assert!(serde_json::from_str::<Value>(&got).is_ok());
        }
        for c in &seen {
            let s = serde_json::to_string(c).unwrap();
            for value in ["jane.doe@", "4111 1111 1111 1111", "123-4567", "u0040mail"] {
                prop_assert!(!s.contains(value), "{}", s);
            }
        }
    }
}

fn request() -> ChatRequest {
    serde_json::from_value(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .unwrap()
}

#[openai_client]
struct Masked<C> {
    #[inner]
    client: C,
    #[on_chunk]
    pii: Pii,
}

#[tokio::test]
async fn a_truncated_stream_delivers_its_judged_tail_then_ends_truncated() {
    let server = LocalServer::start().await.unwrap();
    let openai = || Client::with_config(OpenAIConfig::new().with_api_base(server.base_url()));

    // Masking: the held tail (an address that ended the text) comes out
    // masked, then the stream ends with `Truncated`. Nothing clean is lost.
    let masked = Masked {
        client: openai(),
        pii: Pii::new(),
    };
    server.push(
        Reply::text("write to jane@example.com")
            .chunks(3)
            .fault(Fault::CutBeforeDone { after: 4 }),
    );
    let mut stream = masked.create_stream(request()).await.unwrap();
    let (chunks, err) = drain(&mut stream).await;
    assert!(
        matches!(err, Some(ClientError::Truncated { .. })),
        "{err:?}"
    );
    assert_eq!(content_seen(&chunks), "write to <EMAIL_ADDRESS>");
    drop(stream);

    // Blocking: a keyword in the held tail is never delivered and is
    // recorded as a trip; the stream still ends with `Truncated`.
    let bundle = json!({"version": 1, "output": {"version": 1, "guardrails": [
        {"name": "Keyword Filter", "config": {"keywords": ["falcon"]}}]}});
    let guarded = Pipeline::from_value(&bundle, &PipelineClients::new())
        .unwrap()
        .wrap(openai());
    server.push(
        Reply::text("project falcon")
            .chunks(2)
            .fault(Fault::CutBeforeDone { after: 3 }),
    );
    let (stream, results) = guarded.create_stream_with_results(request()).await;
    let mut stream = stream.unwrap();
    let (chunks, err) = drain(&mut stream).await;
    assert!(
        matches!(err, Some(ClientError::Truncated { .. })),
        "{err:?}"
    );
    let text = content_seen(&chunks);
    assert!(!text.contains("falcon"), "{text}");
    assert!(text.starts_with("project"), "{text}");
    drop(stream);
    let out = results.snapshot().output;
    assert!(out[0].tripped, "{out:?}");
    server.shutdown().await;
}

/// One step of a random stream: a piece of text for a channel of a
/// choice, or a finish reason for a choice.
#[derive(Debug, Clone)]
enum Step {
    Content(u32, String),
    Args(u32, u32, String),
    Finish(u32),
}

fn step_chunk(step: &Step) -> ChatChunk {
    let (index, delta, finish) = match step {
        Step::Content(i, t) => (
            *i,
            Delta {
                content: Some(t.clone()),
                ..Delta::default()
            },
            false,
        ),
        Step::Args(i, call, t) => (*i, args_chunk(*call, t).choices[0].delta.clone(), false),
        Step::Finish(i) => (*i, Delta::default(), true),
    };
    let mut c = chunk_with(delta, finish);
    c.choices[0].index = index;
    c
}

/// Words a random stream is made of: the keyword in several spellings,
/// its halves, and filler.
const WORDS: &[&str] = &[
    " acme",
    " ACME",
    " ac\u{200B}me",
    " ac",
    "a",
    "me ",
    "me",
    " hello",
    " ",
    "\n",
    "é",
    " acmes",
];

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let piece = prop::collection::vec(prop::sample::select(WORDS), 1..4).prop_map(|w| w.concat());
    let step = prop_oneof![
        4 => (0..2u32, piece.clone()).prop_map(|(i, t)| Step::Content(i, t)),
        2 => (0..2u32, 0..2u32, piece).prop_map(|(i, c, t)| Step::Args(i, c, t)),
        2 => (0..2u32).prop_map(Step::Finish),
    ];
    prop::collection::vec(step, 0..60)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Whatever the interleaving of choices, channels, finish reasons and
    /// text after them, and however the stream ends: never a panic, and
    /// what the caller got of each channel, put together, holds no match
    /// (a blocking or a masking keyword guardrail alike); held text stays
    /// bounded.
    #[test]
    fn no_channel_delivers_a_match(steps in steps(), mask in any::<bool>()) {
        let mut hook = Keywords::new(["acme"]).unwrap();
        if mask {
            hook = hook.action(KeywordAction::Mask);
        }
        let chunks: Vec<ChatChunk> = steps.iter().map(step_chunk).collect();
        let (seen, _err) = drive(&hook, chunks);
        let mut per_channel: std::collections::BTreeMap<(u32, Option<u32>), String> =
            Default::default();
        for c in &seen {
            for ch in &c.choices {
                if let Some(t) = &ch.delta.content {
                    per_channel.entry((ch.index, None)).or_default().push_str(t);
                }
                for call in ch.delta.tool_calls.iter().flatten() {
                    if let Some(t) = call.function.as_ref().and_then(|f| f.arguments.as_ref()) {
                        per_channel.entry((ch.index, Some(call.index))).or_default().push_str(t);
                    }
                }
            }
        }
        let block = Keywords::new(["acme"]).unwrap();
        for ((choice, call), text) in &per_channel {
            prop_assert!(
                !block.check(text).tripped,
                "choice {} call {:?} delivered a match: {:?}", choice, call, text
            );
        }
    }
}

#[test]
fn values_split_across_chunks_at_one_place_are_read_joined() {
    let keywords = Keywords::new(["acme"]).unwrap();
    let name = |n: &str| {
        chunk_with(
            Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index: 0,
                    function: Some(FunctionDelta {
                        name: Some(n.to_owned()),
                        arguments: None,
                    }),
                    ..ToolCallDelta::default()
                }]),
                ..Delta::default()
            },
            false,
        )
    };
    let (seen, err) = drive(&keywords, vec![name("ac"), name("me")]);
    assert!(err.expect("a name split in two").is_tripwire());
    assert_eq!(seen.len(), 1);
    // An unknown field's value, as a client that gathers the stream joins
    // it: a masking guardrail cannot mask what was sent, so it blocks.
    let note = |v: &str| {
        let mut d = Delta::default();
        d.extra.insert("x_note".into(), json!(v));
        chunk_with(d, false)
    };
    let (_, err) = drive(&Pii::new(), vec![note("write jane@exam"), note("ple.com")]);
    assert!(err.expect("an address split in two").is_tripwire());
    // Values at different places are not joined.
    let mut other = Delta::default();
    other.extra.insert("y_note".into(), json!("me"));
    let (seen, err) = drive(&keywords, vec![note("ac"), chunk_with(other, false)]);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(seen.len(), 2);
}

#[tokio::test]
async fn the_role_and_an_unknown_finish_reason_are_text() {
    let urls = UrlFilter::new(["example.com"]).unwrap();
    let mut resp = reply(
        json!({"role": "see https://evil.test/x", "content": "hi"}),
        json!({}),
    );
    assert!(
        urls.post_response(&mut resp, &mut HookContext::new("m"))
            .await
            .is_err()
    );
    let mut c = text_chunk("hi", false);
    c.choices[0].delta.role = Some("see https://evil.test/x".into());
    let (_, err) = drive(&urls, vec![c]);
    assert!(err.is_some());
    let keywords = Keywords::new(["acme"]).unwrap();
    let mut c = text_chunk("hi", false);
    c.choices[0].finish_reason = Some(FinishReason::Other("buy acme".into()));
    let (_, err) = drive(&keywords, vec![c]);
    assert!(err.is_some());
}
