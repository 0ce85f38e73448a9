//! Property tests over hostile input (proptest; case counts bounded so CI
//! stays fast, `PROPTEST_CASES=N` raises them):
//!
//! - chunk decoding: arbitrary bytes and JSON-ish documents decode to a
//!   `ChatChunk` or fail with an error, never a panic;
//! - SSE → stream events, end to end: arbitrary event-stream bodies served
//!   by the local server through async-openai's client end within a bound,
//!   nothing follows an error, and a stream that ends without error had at
//!   least one chunk and a finish reason for every choice it saw;
//! - every guardrail scanner (keywords, PII, secrets, URLs, input budget)
//!   over arbitrary UTF-8, whole and split into arbitrary chunks: no panic,
//!   and what a chunk hook holds back stays within its documented cap.
//!
//! Held-back bytes are measured from outside: with blocking actions a chunk
//! hook passes text unchanged, so what was fed minus what came out is what
//! it holds. Caps are documented in folded bytes; every character that is
//! not default-ignorable folds to at least one byte and is at most four, so
//! the bound checked is four times the cap in original bytes. Default-
//! ignorable characters fold to nothing and are not bounded at all today:
//! see `zero_width_characters_are_held_without_bound` (ignored, a known
//! defect).

mod support;

use std::sync::LazyLock;
use std::time::Duration;

use futures::StreamExt;
use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::guardrails::{
    InputBudget, Keywords, PII_HOLD_CAP, Pii, PiiAction, SECRET_TOKEN_CAP, SecretKeys,
    URL_TOKEN_CAP, UrlFilter,
};
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks::{
    ChatChunk, ChatClient, ChatRequest, ChunkAction, ClientError, HookContext, OnChunk,
};
use proptest::prelude::*;
use serde_json::json;
use support::stream::{Field, chunk, split};

// ------------------------------------------------------------ chunk decoding

/// JSON-ish documents shaped like chunks: the right keys with any values.
fn chunkish() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(json!(null)),
        any::<bool>().prop_map(|b| json!(b)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(|s| json!(s)),
        Just(json!("stop")),
        Just(json!("tool_calls")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop_oneof![
            Just("id"),
            Just("choices"),
            Just("index"),
            Just("delta"),
            Just("content"),
            Just("finish_reason"),
            Just("tool_calls"),
            Just("function"),
            Just("arguments"),
            Just("usage"),
            Just("error"),
            Just("role"),
            Just("refusal"),
            Just("x"),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(keys.prop_map(str::to_owned), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn chunk_decoding_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = serde_json::from_slice::<ChatChunk>(&bytes);
    }

    #[test]
    fn chunk_decoding_never_panics_on_chunkish_json(v in chunkish()) {
        let text = v.to_string();
        if let Ok(c) = serde_json::from_str::<ChatChunk>(&text) {
            // What decoded can be used and written back.
            let _ = c.content();
            serde_json::to_string(&c).unwrap();
        }
    }
}

// ------------------------------------------------- SSE → stream, end to end

struct Served {
    runtime: tokio::runtime::Runtime,
    server: LocalServer,
    client: Client<OpenAIConfig>,
}

static SERVED: LazyLock<Served> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(LocalServer::start()).unwrap();
    let client = Client::with_config(OpenAIConfig::new().with_api_base(server.base_url()));
    Served {
        runtime,
        server,
        client,
    }
});

/// One SSE line: mostly plausible, sometimes garbage.
fn sse_line() -> impl Strategy<Value = String> {
    let index = 0u32..3;
    prop_oneof![
        (index.clone(), ".{0,8}").prop_map(|(i, t)| format!(
            "data: {}",
            json!({"choices": [{"index": i, "delta": {"content": t}}]})
        )),
        index.prop_map(|i| format!(
            "data: {}",
            json!({"choices": [{"index": i, "delta": {}, "finish_reason": "stop"}]})
        )),
        chunkish().prop_map(|v| format!("data: {v}")),
        Just("data: [DONE]".to_owned()),
        Just(": keep-alive comment".to_owned()),
        Just("event: keepalive".to_owned()),
        Just(String::new()),
        "[^\r\n]{0,40}",
        "data: [^\r\n]{0,40}",
    ]
}

fn sse_body() -> impl Strategy<Value = String> {
    prop::collection::vec(sse_line(), 0..16).prop_map(|lines| {
        let mut body = lines.join("\n");
        body.push_str("\n\n");
        body
    })
}

fn request() -> ChatRequest {
    serde_json::from_value(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_event_stream_ends_typed_and_checked(body in sse_body()) {
        let s = &*SERVED;
        s.server.push(Reply::raw(200, "text/event-stream", body));
        let items = s.runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), async {
                let mut stream = s.client.create_stream(request()).await.unwrap();
                let mut items: Vec<Result<ChatChunk, ClientError>> = Vec::new();
                while let Some(item) = stream.next().await {
                    items.push(item);
                }
                items
            })
            .await
            .expect("the stream ended")
        });
        s.server.take_requests();
        if let Some(at) = items.iter().position(Result::is_err) {
            prop_assert_eq!(at, items.len() - 1, "nothing follows an error");
        } else {
            // A clean end: something came, and every choice finished.
            prop_assert!(!items.is_empty());
            let mut open = std::collections::BTreeSet::new();
            let mut done = std::collections::BTreeSet::new();
            for c in items.iter().flatten() {
                for choice in &c.choices {
                    if choice.finish_reason.is_some() {
                        done.insert(choice.index);
                    } else {
                        open.insert(choice.index);
                    }
                }
            }
            prop_assert!(!done.is_empty());
            prop_assert!(open.is_subset(&done), "open {:?} done {:?}", open, done);
        }
    }
}

// ----------------------------------------------------------------- scanners

/// The most bytes `hook` held back at once while `pieces` streamed through
/// it, or `None` if it stopped the stream (a match) before the end.
fn max_held<H: OnChunk>(hook: &H, pieces: &[String]) -> usize {
    let cx = HookContext::new("m");
    let mut state = H::State::default();
    let (mut fed, mut out, mut max) = (0usize, 0usize, 0usize);
    for (i, p) in pieces.iter().enumerate() {
        fed += p.len();
        let mut c = chunk(0, Field::Content, p, i + 1 == pieces.len());
        match hook.on_chunk(&mut c, &mut state, &cx) {
            Ok(ChunkAction::Pass) => out += c.content().unwrap_or_default().len(),
            Ok(ChunkAction::Drop) => {}
            // A blocking guardrail found something: what it held is dropped.
            Err(_) => return max,
        }
        max = max.max(fed - out);
    }
    let _ = hook.on_end(&mut state, &cx);
    max
}

static KEYWORDS: LazyLock<Keywords> =
    LazyLock::new(|| Keywords::new(["acme", "Globex Corporation", "c++"]).unwrap());
/// The longest term, in bytes.
const KEYWORD_CAP: usize = "Globex Corporation".len();
static PII: LazyLock<Pii> = LazyLock::new(|| Pii::new().action(PiiAction::Block));
static SECRETS: LazyLock<SecretKeys> = LazyLock::new(SecretKeys::new);
static URLS: LazyLock<UrlFilter> = LazyLock::new(|| UrlFilter::new(["example.com"]).unwrap());

/// Unicode's default-ignorable code points (which fold to nothing).
fn default_ignorable(c: char) -> bool {
    matches!(c as u32,
        0xAD | 0x34F | 0x61C | 0x115F..=0x1160 | 0x17B4..=0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF)
}

/// Arbitrary UTF-8, weighted towards what the scanners care about.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => any::<String>(),
        1 => "[a-z0-9@.:/_+-]{1,40}",
        1 => "[0-9 -]{1,30}",
        1 => Just("sk-proj-".to_owned()),
        1 => Just("https://".to_owned()),
        1 => Just("Globex Corp".to_owned()),
        1 => "[A-Za-z0-9]{100,1500}",
    ];
    prop::collection::vec(piece, 0..8).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn scanners_never_panic_and_hold_within_their_caps(
        text in text(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let text: String = text.chars().filter(|&c| !default_ignorable(c)).collect();
        let pieces = split(&text, &cuts);
        let _ = (KEYWORDS.check(&text), PII.check(&text), SECRETS.check(&text), URLS.check(&text));
        let budget = support::request::request(&["system", &text]);
        let _ = InputBudget::measure(&budget);

        let held = max_held(&*KEYWORDS, &pieces);
        prop_assert!(held <= 4 * KEYWORD_CAP, "keywords held {}", held);
        let held = max_held(&*PII, &pieces);
        prop_assert!(held <= 4 * PII_HOLD_CAP, "pii held {}", held);
        let held = max_held(&*SECRETS, &pieces);
        prop_assert!(held <= 4 * SECRET_TOKEN_CAP, "secrets held {}", held);
        let held = max_held(&*URLS, &pieces);
        prop_assert!(held <= 4 * URL_TOKEN_CAP, "urls held {}", held);
    }

    #[test]
    fn scanners_never_panic_on_any_utf8(
        text in any::<String>(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let pieces = split(&text, &cuts);
        let _ = (KEYWORDS.check(&text), PII.check(&text), SECRETS.check(&text), URLS.check(&text));
        max_held(&*KEYWORDS, &pieces);
        max_held(&*PII, &pieces);
        max_held(&*SECRETS, &pieces);
        max_held(&*URLS, &pieces);
    }
}

/// Known defect: default-ignorable characters (zero-width space and the
/// like) fold to nothing, so they never count towards a cap, and a stream
/// of them after the start of a candidate is held back without bound.
/// Measured with 10,000 zero-width spaces: keywords, PII and secrets hold
/// all 30,000 bytes. Ignored until the scanners count original bytes too.
#[test]
#[ignore = "known defect: zero-width characters are held back without bound"]
fn zero_width_characters_are_held_without_bound() {
    let mut pieces = vec!["ac".to_owned()];
    pieces.extend((0..10_000).map(|_| "\u{200B}".to_owned()));
    assert!(max_held(&*KEYWORDS, &pieces) <= 4 * KEYWORD_CAP, "keywords");
    let zw: Vec<String> = (0..10_000).map(|_| "\u{200B}".to_owned()).collect();
    assert!(max_held(&*PII, &zw) <= 4 * PII_HOLD_CAP, "pii");
    assert!(max_held(&*SECRETS, &zw) <= 4 * SECRET_TOKEN_CAP, "secrets");
    assert!(max_held(&*URLS, &zw) <= 4 * URL_TOKEN_CAP, "urls");
}
