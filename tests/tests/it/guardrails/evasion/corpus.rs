//! The evasion corpus (`tests/evasion/cases.json`): URL forms, Unicode
//! disguises, JSON escapes and every reply channel, each case with the
//! decision the guardrail must reach.
//!
//! Each case runs
//! - through `check()` (text in `content`) and the post-response hook on a
//!   whole reply with the text in its channel;
//! - through the chunk hook under several random chunkings of the channel's
//!   text, and through a generated client's stream under one more;
//! - through `OpenAIModel` with that generated client injected, streaming
//!   and not;
//! - through a pipeline bundle naming the guardrail, streaming and not.
//!
//! A `block` case must trip everywhere, and its `payload` (the disguised
//! match) must never reach the caller in any chunk; a `pass` case must come
//! through unchanged everywhere. Guardrails: `UrlFilter::new(["example.com"])`
//! (https only), `Keywords::new(["acme", "project falcon"])`, `Pii` and
//! `SecretKeys` blocking.

use crate::support;

use std::sync::Mutex;

use openai_hooks::guardrails::pipeline::{Pipeline, PipelineClients};
use openai_hooks::guardrails::{Keywords, Pii, PiiAction, SecretKeys, UrlFilter};
use openai_hooks::model::{Message, OpenAIModel};
use openai_hooks::types::{ChunkChoice, Delta, FunctionDelta, ToolCallDelta};
use openai_hooks::{
    ChatChunk, ChatClient, ChatRequest, ChatResponse, ChatStream, ClientError, FinishReason,
    HookContext, HookError, PostResponse, openai_client,
};
use serde::Deserialize;
use serde_json::{Value, json};
use support::stream::{drain, drive, split};

#[derive(Debug, Clone, Deserialize)]
struct Case {
    id: String,
    guardrail: String,
    channel: String,
    text: String,
    decision: String,
    #[serde(default)]
    payload: Option<String>,
}

impl Case {
    fn blocks(&self) -> bool {
        self.decision == "block"
    }
}

fn cases() -> Vec<Case> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/evasion/cases.json");
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The text as it sits in its channel: argument channels hold JSON.
fn channel_text(case: &Case) -> String {
    match case.channel.as_str() {
        "tool_arguments" | "function_arguments" => {
            serde_json::to_string(&json!({"q": case.text})).unwrap()
        }
        _ => case.text.clone(),
    }
}

/// The payload as it sits in its channel.
fn channel_payload(case: &Case) -> Option<String> {
    let p = case.payload.as_ref()?;
    Some(match case.channel.as_str() {
        "tool_arguments" | "function_arguments" => {
            let quoted = serde_json::to_string(p).unwrap();
            quoted[1..quoted.len() - 1].to_owned()
        }
        _ => p.clone(),
    })
}

/// Whether the channel streams in fragments (others come whole, in one
/// chunk).
fn streamed(channel: &str) -> bool {
    !matches!(
        channel,
        "annotation_title" | "annotation_url" | "extra_text"
    )
}

/// A whole reply carrying `text` in `channel`.
fn whole_reply(channel: &str, text: &str) -> ChatResponse {
    let mut message = json!({"role": "assistant"});
    let mut choice_extra = json!({});
    match channel {
        "content" => message["content"] = json!(text),
        "refusal" => message["refusal"] = json!(text),
        "reasoning" => message["reasoning_content"] = json!(text),
        "tool_arguments" | "raw_tool_arguments" => {
            message["tool_calls"] = json!([{"id": "call_1", "type": "function",
                "function": {"name": "act", "arguments": text}}]);
        }
        "function_arguments" => {
            message["function_call"] = json!({"name": "act", "arguments": text});
        }
        "audio_transcript" => {
            message["audio"] =
                json!({"id": "audio_1", "data": "UklGRg==", "expires_at": 1, "transcript": text});
        }
        "annotation_title" | "annotation_url" => {
            let (title, url) = match channel {
                "annotation_title" => (text, "https://example.com/"),
                _ => ("source", text),
            };
            message["content"] = json!("cited");
            message["annotations"] = json!([{"type": "url_citation", "url_citation":
                {"start_index": 0, "end_index": 5, "title": title, "url": url}}]);
        }
        "extra_text" => choice_extra = json!({"provider_note": text}),
        other => panic!("unknown channel {other}"),
    }
    let mut choice = json!({"index": 0, "message": message, "finish_reason": "stop"});
    if let (Value::Object(c), Value::Object(e)) = (&mut choice, choice_extra) {
        c.extend(e);
    }
    serde_json::from_value(json!({"id": "r", "object": "chat.completion", "created": 1,
        "model": "m", "choices": [choice]}))
    .unwrap()
}

/// A chunk of choice 0 carrying `piece` of `channel`.
fn piece_chunk(channel: &str, piece: &str, first: bool, finish: bool) -> ChatChunk {
    let mut delta = Delta::default();
    let mut choice_extra = serde_json::Map::new();
    match channel {
        "content" => delta.content = Some(piece.into()),
        "refusal" => delta.refusal = Some(piece.into()),
        "reasoning" => delta.reasoning_content = Some(piece.into()),
        "tool_arguments" | "raw_tool_arguments" => {
            delta.tool_calls = Some(vec![ToolCallDelta {
                index: 0,
                id: first.then(|| "call_1".into()),
                kind: first.then(|| "function".into()),
                function: Some(FunctionDelta {
                    name: first.then(|| "act".into()),
                    arguments: Some(piece.into()),
                }),
                ..ToolCallDelta::default()
            }]);
        }
        "function_arguments" => {
            let mut call = json!({"arguments": piece});
            if first {
                call["name"] = json!("act");
            }
            delta.extra.insert("function_call".into(), call);
        }
        "audio_transcript" => {
            delta.extra.insert(
                "audio".into(),
                json!({"id": "audio_1", "transcript": piece}),
            );
        }
        "annotation_title" => {
            delta.extra.insert(
                "annotations".into(),
                json!([{"type": "url_citation",
                "url_citation": {"title": piece, "url": "https://example.com/"}}]),
            );
        }
        "annotation_url" => {
            delta.extra.insert(
                "annotations".into(),
                json!([{"type": "url_citation",
                "url_citation": {"title": "source", "url": piece}}]),
            );
        }
        "extra_text" => {
            choice_extra.insert("provider_note".into(), json!(piece));
        }
        other => panic!("unknown channel {other}"),
    }
    ChatChunk {
        id: "c".into(),
        object: "chat.completion.chunk".into(),
        created: 1,
        model: "m".into(),
        choices: vec![ChunkChoice {
            index: 0,
            delta,
            finish_reason: finish.then_some(FinishReason::Stop),
            extra: choice_extra,
            ..ChunkChoice::default()
        }],
        ..ChatChunk::default()
    }
}

/// The case's channel text cut at `cuts` (whole for channels that do not
/// stream), as chunks, the last one finishing the choice.
fn chunks_for(case: &Case, cuts: &[usize]) -> Vec<ChatChunk> {
    let text = channel_text(case);
    let pieces = match streamed(&case.channel) {
        true => split(&text, cuts),
        false => vec![text],
    };
    let n = pieces.len();
    let mut chunks: Vec<ChatChunk> = pieces
        .iter()
        .enumerate()
        .map(|(i, p)| piece_chunk(&case.channel, p, i == 0, false))
        .collect();
    if n == 0 {
        chunks.push(piece_chunk(&case.channel, "", true, false));
    }
    let mut last = piece_chunk("content", "", false, true);
    last.choices[0].delta.content = None;
    chunks.push(last);
    chunks
}

/// Every string the caller got, over all chunks, joined per field path
/// (so a channel's pieces read as the caller would put them together).
fn delivered(chunks: &[ChatChunk]) -> String {
    fn walk(path: &str, v: &Value, out: &mut std::collections::BTreeMap<String, String>) {
        match v {
            Value::String(s) => out.entry(path.to_owned()).or_default().push_str(s),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(&format!("{path}/{i}"), item, out);
                }
            }
            Value::Object(map) => {
                for (k, item) in map {
                    walk(&format!("{path}/{k}"), item, out);
                }
            }
            _ => {}
        }
    }
    let mut fields = std::collections::BTreeMap::new();
    for c in chunks {
        for choice in &c.choices {
            walk("", &serde_json::to_value(choice).unwrap(), &mut fields);
        }
    }
    fields.into_values().collect::<Vec<_>>().join("\n")
}

/// A small deterministic generator of cut points.
struct Cuts(u64);

impl Cuts {
    fn next(&mut self, len: usize) -> Vec<usize> {
        let mut cuts = Vec::new();
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let n = (self.0 >> 59) as usize;
        for _ in 0..n {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            cuts.push((self.0 >> 33) as usize % (len + 1));
        }
        cuts
    }
}

/// One of the four guardrails, as each entry point wants it.
#[derive(Clone)]
enum Guard {
    Url(UrlFilter),
    Keywords(Keywords),
    Pii(Pii),
    Secrets(SecretKeys),
}

fn guard(name: &str) -> Guard {
    match name {
        "url" => Guard::Url(UrlFilter::new(["example.com"]).unwrap()),
        "keywords" => Guard::Keywords(Keywords::new(["acme", "project falcon"]).unwrap()),
        "pii" => Guard::Pii(Pii::new().action(PiiAction::Block)),
        "secrets" => Guard::Secrets(SecretKeys::new()),
        other => panic!("unknown guardrail {other}"),
    }
}

fn bundle(name: &str) -> Value {
    let (entry, config) = match name {
        "url" => ("URL Filter", json!({"url_allow_list": ["example.com"]})),
        "keywords" => (
            "Keyword Filter",
            json!({"keywords": ["acme", "project falcon"]}),
        ),
        "pii" => ("Contains PII", json!({"block": true})),
        "secrets" => ("Secret Keys", json!({})),
        other => panic!("unknown guardrail {other}"),
    };
    json!({"version": 1, "output": {"version": 1, "guardrails": [{"name": entry, "config": config}]}})
}

impl Guard {
    fn check(&self, text: &str) -> bool {
        match self {
            Self::Url(g) => g.check(text).tripped,
            Self::Keywords(g) => g.check(text).tripped,
            Self::Pii(g) => g.check(text).tripped,
            Self::Secrets(g) => g.check(text).tripped,
        }
    }

    async fn post(&self, resp: &mut ChatResponse) -> Result<(), HookError> {
        let cx = &mut HookContext::new("m");
        match self {
            Self::Url(g) => g.post_response(resp, cx).await,
            Self::Keywords(g) => g.post_response(resp, cx).await,
            Self::Pii(g) => g.post_response(resp, cx).await,
            Self::Secrets(g) => g.post_response(resp, cx).await,
        }
    }

    fn drive(&self, chunks: Vec<ChatChunk>) -> (Vec<ChatChunk>, Option<HookError>) {
        match self {
            Self::Url(g) => drive(g, chunks),
            Self::Keywords(g) => drive(g, chunks),
            Self::Pii(g) => drive(g, chunks),
            Self::Secrets(g) => drive(g, chunks),
        }
    }
}

/// An inner client that answers with the chunks (or reply) set last.
#[derive(Default)]
struct Scripted {
    chunks: Mutex<Vec<ChatChunk>>,
    reply: Mutex<Option<ChatResponse>>,
}

impl ChatClient for Scripted {
    async fn create(&self, _: ChatRequest) -> Result<ChatResponse, ClientError> {
        Ok(self.reply.lock().unwrap().clone().unwrap())
    }

    async fn create_stream(&self, _: ChatRequest) -> Result<ChatStream<'_>, ClientError> {
        let chunks = self.chunks.lock().unwrap().clone();
        Ok(Box::pin(futures::stream::iter(chunks.into_iter().map(Ok))))
    }
}

macro_rules! guarded {
    ($($name:ident: $ty:ty),*) => {$(
        #[openai_client]
        struct $name<C> {
            #[inner]
            client: C,
            #[on_chunk]
            #[post_response]
            g: $ty,
        }
    )*};
}
guarded!(GuardedUrl: UrlFilter, GuardedKeywords: Keywords, GuardedPii: Pii, GuardedSecrets: SecretKeys);

/// A generated client around `inner`, as a `ChatClient` object.
fn generated(
    g: &Guard,
    inner: std::sync::Arc<Scripted>,
) -> std::sync::Arc<dyn openai_hooks::DynChatClient> {
    match g.clone() {
        Guard::Url(g) => std::sync::Arc::new(GuardedUrl { client: inner, g }),
        Guard::Keywords(g) => std::sync::Arc::new(GuardedKeywords { client: inner, g }),
        Guard::Pii(g) => std::sync::Arc::new(GuardedPii { client: inner, g }),
        Guard::Secrets(g) => std::sync::Arc::new(GuardedSecrets { client: inner, g }),
    }
}

fn request() -> ChatRequest {
    serde_json::from_value(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .unwrap()
}

/// What went wrong with one case, if anything.
async fn run_case(case: &Case, seed: u64) -> Vec<String> {
    let mut wrong = Vec::new();
    let g = guard(&case.guardrail);
    let blocks = case.blocks();
    let text = channel_text(case);
    let payload = channel_payload(case);
    let leaks = |out: &str| payload.as_deref().is_some_and(|p| out.contains(p));

    // check(), with the text as content.
    if case.channel == "content" && g.check(&case.text) != blocks {
        wrong.push(format!("check(): tripped = {}", !blocks));
    }
    // The post-response hook on a whole reply.
    let original = whole_reply(&case.channel, &text);
    let mut resp = original.clone();
    match g.post(&mut resp).await {
        Err(e) if blocks && e.is_tripwire() => {}
        Ok(()) if !blocks && resp == original => {}
        Ok(()) if !blocks => wrong.push("post_response: changed a clean reply".into()),
        other => wrong.push(format!("post_response: {other:?}")),
    }
    // The chunk hook under random chunkings.
    let mut cuts = Cuts(seed);
    for round in 0..8 {
        let chunks = chunks_for(case, &cuts.next(text.len()));
        let (seen, err) = g.drive(chunks.clone());
        let out = delivered(&seen);
        match (&err, blocks) {
            (Some(e), true) if e.is_tripwire() => {}
            (None, false) if out == delivered(&chunks) => {}
            (None, false) => {
                wrong.push(format!("chunks round {round}: changed clean text: {out:?}"))
            }
            _ => wrong.push(format!("chunks round {round}: {err:?}")),
        }
        if leaks(&out) {
            wrong.push(format!(
                "chunks round {round}: the payload reached the caller: {out:?}"
            ));
        }
    }
    // A generated client, streaming and not.
    let inner = std::sync::Arc::new(Scripted::default());
    *inner.reply.lock().unwrap() = Some(original.clone());
    let chunks = chunks_for(case, &cuts.next(text.len()));
    *inner.chunks.lock().unwrap() = chunks.clone();
    let client = generated(&g, inner.clone());
    match (client.create_stream_dyn(request()).await, blocks) {
        (Ok(mut stream), _) => {
            let (seen, err) = drain(&mut stream).await;
            let out = delivered(&seen);
            match (&err, blocks) {
                (Some(e), true) if e.tripwire().is_some() => {}
                (None, false) if out == delivered(&chunks) => {}
                _ => wrong.push(format!("generated stream: {err:?}, {out:?}")),
            }
            if leaks(&out) {
                wrong.push(format!(
                    "generated stream: the payload reached the caller: {out:?}"
                ));
            }
        }
        (Err(e), _) => wrong.push(format!("generated stream did not open: {e:?}")),
    }
    match (client.create_dyn(request()).await, blocks) {
        (Err(e), true) if e.tripwire().is_some() => {}
        (Ok(r), false) if r == original => {}
        (other, _) => wrong.push(format!("generated create: {other:?}")),
    }
    // OpenAIModel with the generated client injected.
    for streaming in [true, false] {
        let model = OpenAIModel::builder("m")
            .stream(streaming)
            .client(client.clone())
            .build()
            .unwrap();
        let messages = [Message::user("hi")];
        let events =
            futures::StreamExt::collect::<Vec<_>>(model.stream(&messages, &[], None, None)).await;
        let failed = events.iter().any(Result::is_err);
        if failed != blocks {
            wrong.push(format!(
                "OpenAIModel (stream {streaming}): failed = {failed}"
            ));
        }
    }
    // A pipeline naming the guardrail.
    let pipeline = Pipeline::from_value(&bundle(&case.guardrail), &PipelineClients::new())
        .unwrap()
        .wrap(inner.clone());
    match pipeline.create(request()).await {
        Err(e) if blocks && e.tripwire().is_some() => {}
        Ok(r) if !blocks && r == original => {}
        other => wrong.push(format!("pipeline create: {other:?}")),
    }
    match pipeline.create_stream(request()).await {
        Ok(mut stream) => {
            let (seen, err) = drain(&mut stream).await;
            let out = delivered(&seen);
            match (&err, blocks) {
                (Some(e), true) if e.tripwire().is_some() => {}
                (None, false) if out == delivered(&chunks) => {}
                _ => wrong.push(format!("pipeline stream: {err:?}, {out:?}")),
            }
            if leaks(&out) {
                wrong.push(format!(
                    "pipeline stream: the payload reached the caller: {out:?}"
                ));
            }
        }
        Err(e) => wrong.push(format!("pipeline stream did not open: {e:?}")),
    }
    wrong
}

#[tokio::test]
async fn every_case_gets_its_decision_everywhere() {
    let cases = cases();
    assert!(cases.len() >= 200, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let wrong = run_case(case, 0x5eed + i as u64).await;
        if !wrong.is_empty() {
            failures.push(format!(
                "{} ({}): {}",
                case.id,
                case.decision,
                wrong.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn the_corpus_is_well_formed() {
    let cases = cases();
    let mut ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "ids are unique");
    for c in &cases {
        assert!(matches!(c.decision.as_str(), "block" | "pass"), "{}", c.id);
        assert!(
            c.blocks() == c.payload.is_some(),
            "{}: a block case names its payload, a pass case none",
            c.id
        );
        if let Some(p) = &c.payload {
            assert!(c.text.contains(p.as_str()), "{}: payload not in text", c.id);
        }
    }
}
