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
//!   and what a chunk hook holds back stays within its documented cap;
//! - chunks → stream events (`model::EventConverter`): arbitrary sequences
//!   of chunk-shaped JSON convert without a panic, to a typed error or to
//!   events that carry exactly the text sent, in a linear amount of state;
//! - `JsonSchemaOutput` over arbitrary UTF-8, whole and streamed: no panic,
//!   its state never keeps more than its cap, and a reply over the cap
//!   trips instead of passing.
//!
//! Held-back bytes are what the hook's state reports, checked against the
//! outside view: with blocking actions a chunk hook passes text unchanged
//! but for default-ignorable characters it may drop, so what was fed minus
//! what came out is at least what it holds, and exactly that for text
//! without them. Caps are documented in folded bytes; every character that
//! is not default-ignorable folds to at least one byte and is at most four,
//! so the bound checked is four times the cap in original bytes, plus
//! `IGNORABLE_HOLD_CAP` for default-ignorable characters, which fold to
//! nothing (see `zero_width_characters_are_held_within_a_bound`).

use crate::support;

use std::sync::LazyLock;
use std::time::Duration;

use futures::StreamExt;
use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::guardrails::{
    InputBudget, JsonSchemaOutput, JsonSchemaState, Keywords, Pii, PiiAction, SecretKeys, UrlFilter,
};
use openai_hooks::limits::{IGNORABLE_HOLD_CAP, PII_HOLD_CAP, SECRET_TOKEN_CAP, URL_TOKEN_CAP};
use openai_hooks::model::parts::EventConverter;
use openai_hooks::model::{
    BlockDelta, BlockStart, ModelError, StopReason, StreamEvent, TokenUsage,
};
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks::{
    ChatChunk, ChatClient, ChatRequest, ChunkAction, ClientError, HookContext, HookError, OnChunk,
};
use proptest::prelude::*;
use serde_json::json;
use support::stream::{Field, Held, chunk, default_ignorable, split, visible};

/// `n` cases, or `PROPTEST_CASES` when set (`ProptestConfig::with_cases`
/// alone would ignore it).
fn cases(n: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n);
    ProptestConfig::with_cases(n)
}

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
    #![proptest_config(cases(2_000))]

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
    #![proptest_config(cases(200))]

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

/// What `hook` did with `pieces`: the most bytes it held back at once (as
/// its state reports), what came out, and whether it stopped the stream (a
/// match).
struct Streamed {
    max_held: usize,
    out: String,
    tripped: bool,
}

fn stream<H: OnChunk<State: Held>>(hook: &H, pieces: &[String]) -> Streamed {
    let cx = HookContext::new("m");
    let mut state = H::State::default();
    let mut s = Streamed {
        max_held: 0,
        out: String::new(),
        tripped: false,
    };
    let (mut fed, mut plain) = (0usize, true);
    for (i, p) in pieces.iter().enumerate() {
        fed += p.len();
        plain &= !p.chars().any(default_ignorable);
        let mut c = chunk(0, Field::Content, p, i + 1 == pieces.len());
        match hook.on_chunk(&mut c, &mut state, &cx) {
            Ok(ChunkAction::Pass) => s.out.push_str(c.content().unwrap_or_default()),
            Ok(ChunkAction::Drop) => {}
            // A blocking guardrail found something: what it held is dropped.
            Err(_) => {
                s.tripped = true;
                return s;
            }
        }
        let held = state.held();
        // What did not come out is held, or (only default-ignorable
        // characters) dropped.
        let gone = fed - s.out.len();
        assert!(held <= gone, "holds {held} of {gone} bytes not passed");
        if plain {
            assert_eq!(held, gone, "holds other than what it did not pass");
        }
        s.max_held = s.max_held.max(held);
    }
    if let Ok(Some(c)) = hook.on_end(&mut state, &cx) {
        s.out.push_str(c.content().unwrap_or_default());
    }
    s
}

/// The most bytes `hook` held back at once while `pieces` streamed through
/// it.
fn max_held<H: OnChunk<State: Held>>(hook: &H, pieces: &[String]) -> usize {
    stream(hook, pieces).max_held
}

static KEYWORDS: LazyLock<Keywords> =
    LazyLock::new(|| Keywords::new(["acme", "Globex Corporation", "c++"]).unwrap());
/// The longest term, in bytes.
const KEYWORD_CAP: usize = "Globex Corporation".len();
static PII: LazyLock<Pii> = LazyLock::new(|| Pii::new().action(PiiAction::Block));
static SECRETS: LazyLock<SecretKeys> = LazyLock::new(SecretKeys::new);
static URLS: LazyLock<UrlFilter> = LazyLock::new(|| UrlFilter::new(["example.com"]).unwrap());

/// The most a field may hold, in original bytes, under a cap in folded
/// bytes.
fn bound(cap: usize) -> usize {
    4 * cap + IGNORABLE_HOLD_CAP
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
    #![proptest_config(cases(300))]

    #[test]
    fn scanners_never_panic_and_hold_within_their_caps(
        text in text(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let pieces = split(&text, &cuts);
        let _ = (KEYWORDS.check(&text), PII.check(&text), SECRETS.check(&text), URLS.check(&text));
        let budget = support::request::request(&["system", &text]);
        let _ = InputBudget::measure(&budget);

        let held = max_held(&*KEYWORDS, &pieces);
        prop_assert!(held <= bound(KEYWORD_CAP), "keywords held {}", held);
        let held = max_held(&*PII, &pieces);
        prop_assert!(held <= bound(PII_HOLD_CAP), "pii held {}", held);
        let held = max_held(&*SECRETS, &pieces);
        prop_assert!(held <= bound(SECRET_TOKEN_CAP), "secrets held {}", held);
        let held = max_held(&*URLS, &pieces);
        prop_assert!(held <= bound(URL_TOKEN_CAP), "urls held {}", held);
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

/// Default-ignorable characters (zero-width space and the like) fold to
/// nothing, so they take no room under a cap counted in folded bytes; the
/// engine bounds them on their own. 10,000 zero-width spaces, one per
/// chunk, after `ac` (which could still become `acme`) or alone: the hold
/// stays within four times the cap plus `IGNORABLE_HOLD_CAP`. Those held
/// before any candidate all come through; of those inside one, the first
/// `IGNORABLE_HOLD_CAP` bytes do and the rest are dropped; no visible
/// character is lost, and a candidate completed after them is still found.
#[test]
fn zero_width_characters_are_held_within_a_bound() {
    let zw = |n: usize| (0..n).map(|_| "\u{200B}".to_owned());
    // The finish reason comes in a chunk of its own.
    let end = || std::iter::once(String::new());
    let ac: Vec<String> = ["ac".to_owned()]
        .into_iter()
        .chain(zw(10_000))
        .chain(end())
        .collect();
    let s = stream(&*KEYWORDS, &ac);
    println!(
        "zero-width: after `ac`, keywords held at most {} bytes",
        s.max_held
    );
    assert!(!s.tripped);
    assert!(
        s.max_held <= bound(KEYWORD_CAP),
        "keywords held {}",
        s.max_held
    );
    assert_eq!(
        s.out,
        format!("ac{}", "\u{200B}".repeat(IGNORABLE_HOLD_CAP / 3))
    );

    let alone: Vec<String> = zw(10_000).chain(end()).collect();
    for (name, s) in [
        ("keywords", stream(&*KEYWORDS, &alone)),
        ("pii", stream(&*PII, &alone)),
        ("secrets", stream(&*SECRETS, &alone)),
        ("urls", stream(&*URLS, &alone)),
    ] {
        println!(
            "zero-width: alone, {name} held at most {} bytes",
            s.max_held
        );
        assert!(!s.tripped, "{name}");
        assert!(
            s.max_held <= IGNORABLE_HOLD_CAP + 3,
            "{name} held {}",
            s.max_held
        );
        assert_eq!(s.out, alone.concat(), "{name}");
    }

    // The flood inside a candidate does not hide its completion, whole or
    // streamed one character per chunk: the stream stops before any of it
    // comes through.
    let hidden = format!("x ac{}me y", "\u{200B}".repeat(10_000));
    assert!(KEYWORDS.check(&hidden).tripped);
    let pieces: Vec<String> = hidden.chars().map(String::from).collect();
    let s = stream(&*KEYWORDS, &pieces);
    println!(
        "zero-width: inside `acme`, keywords held at most {} bytes",
        s.max_held
    );
    assert!(s.tripped);
    assert!(
        s.max_held <= bound(KEYWORD_CAP),
        "keywords held {}",
        s.max_held
    );
    assert_eq!(visible(&s.out), "x ");

    // A secret and an e-mail address with a flood in the middle.
    for (name, text, cap) in [
        (
            "secrets",
            "key sk-proj-4fT9qLm2Xv8R{zw}kP0sWz7YbN3c end",
            SECRET_TOKEN_CAP,
        ),
        ("pii", "mail jane.doe@exa{zw}mple.com now", PII_HOLD_CAP),
    ] {
        let text = text.replace("{zw}", &"\u{2060}".repeat(5_000));
        let pieces: Vec<String> = text.chars().map(String::from).collect();
        let s = match name {
            "secrets" => stream(&*SECRETS, &pieces),
            _ => stream(&*PII, &pieces),
        };
        println!(
            "zero-width: inside a value, {name} held at most {} bytes",
            s.max_held
        );
        assert!(s.tripped, "{name}");
        assert!(s.max_held <= bound(cap), "{name} held {}", s.max_held);
        assert!(text.starts_with(&s.out), "{name}");
        assert!(!s.out.contains("sk-") && !s.out.contains('@'), "{name}");
    }
}

/// An e-mail address followed by a long run of characters a domain may
/// hold (`a@b.cd7xxx…`): the search went on past the address for as long
/// as the run lasted, so a chunk hook dropped the address's bytes while it
/// was still pending and then panicked on them. The address is now settled
/// within half the hold cap, streamed in any chunks as whole.
#[test]
fn an_address_before_a_long_run_is_found_streamed_and_whole() {
    let text = format!("mail a@b.cd7{} end", "x".repeat(3 * PII_HOLD_CAP));
    let masking = Pii::new();
    let whole = masking.check(&text).text.expect("the address is found");
    assert!(whole.starts_with("mail <EMAIL_ADDRESS>7xxx"), "{whole}");
    for size in [1, 7, 64, 100, 600, text.len()] {
        let pieces: Vec<String> = text
            .as_bytes()
            .chunks(size)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        let s = stream(&*PII, &pieces);
        assert!(s.tripped, "chunks of {size}");
        assert!(s.max_held <= bound(PII_HOLD_CAP), "chunks of {size}");
        assert!(!s.out.contains('@'), "chunks of {size}");
        let seen = support::stream::stream_text(&masking, &pieces, Field::Content, true);
        assert_eq!(seen.text(0), whole, "chunks of {size}");
    }
}

// ------------------------------------------------- chunks → stream events

/// A piece of streamed text: often empty or plain, sometimes any UTF-8.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        3 => "[a-z {}\":,]{1,8}",
        2 => any::<String>(),
    ]
}

/// A field that is absent, `null`, or holds `value`.
fn field<S>(value: S) -> impl Strategy<Value = Option<serde_json::Value>>
where
    S: Strategy<Value = serde_json::Value> + 'static,
{
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(json!(null))),
        4 => value.prop_map(Some),
    ]
}

/// An object with the fields that are present.
fn object(fields: Vec<(&str, Option<serde_json::Value>)>) -> serde_json::Value {
    serde_json::Value::Object(
        fields
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_owned(), v?)))
            .collect(),
    )
}

fn text_field() -> impl Strategy<Value = Option<serde_json::Value>> {
    field(fragment().prop_map(|t| json!(t)))
}

/// A tool-call fragment: indexes and ids from small sets, so calls meet,
/// continue and collide.
fn tool_call_delta() -> impl Strategy<Value = serde_json::Value> {
    let index = prop_oneof![4 => 0u32..3, 1 => Just(u32::MAX)];
    let id = prop_oneof![
        Just("call_a".to_owned()),
        Just("call_b".to_owned()),
        Just(String::new()),
        "[a-z_]{1,6}",
    ];
    let name = prop_oneof![
        Just("get_weather".to_owned()),
        Just(String::new()),
        ".{0,6}"
    ];
    (
        prop::option::of(index),
        field(id.prop_map(|s| json!(s))),
        field(Just(json!("function"))),
        prop::option::of((
            field(name.prop_map(|s| json!(s))),
            field(fragment().prop_map(|s| json!(s))),
        )),
    )
        .prop_map(|(index, id, kind, function)| {
            object(vec![
                ("index", index.map(|i| json!(i))),
                ("id", id),
                ("type", kind),
                (
                    "function",
                    function.map(|(name, arguments)| {
                        object(vec![("name", name), ("arguments", arguments)])
                    }),
                ),
            ])
        })
}

fn finish_reason() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(json!("stop")),
        Just(json!("length")),
        Just(json!("tool_calls")),
        Just(json!("content_filter")),
        Just(json!("function_call")),
        "[a-z_]{0,10}".prop_map(|s| json!(s)),
    ]
}

/// One choice: mostly index 0 (the one the converter reads), with any mix
/// of content, reasoning (both spellings), refusal and tool-call fragments,
/// and sometimes a finish reason.
fn chunk_choice() -> impl Strategy<Value = serde_json::Value> {
    let delta = (
        field(Just(json!("assistant"))),
        text_field(),
        text_field(),
        text_field(),
        text_field(),
        field(prop::collection::vec(tool_call_delta(), 0..3).prop_map(serde_json::Value::Array)),
    )
        .prop_map(
            |(role, content, reasoning_content, reasoning, refusal, tool_calls)| {
                object(vec![
                    ("role", role),
                    ("content", content),
                    ("reasoning_content", reasoning_content),
                    ("reasoning", reasoning),
                    ("refusal", refusal),
                    ("tool_calls", tool_calls),
                ])
            },
        );
    (
        prop_oneof![6 => Just(0u32), 1 => 1u32..4],
        prop::option::of(delta),
        prop_oneof![4 => Just(None), 1 => finish_reason().prop_map(Some), 1 => Just(Some(json!(null)))],
    )
        .prop_map(|(index, delta, finish)| {
            object(vec![
                ("index", Some(json!(index))),
                ("delta", delta),
                ("finish_reason", finish),
            ])
        })
}

/// A `chat.completion.chunk`: zero to three choices, sometimes usage,
/// rarely an error object.
fn chunk_json() -> impl Strategy<Value = serde_json::Value> {
    let usage = (
        0u64..1_000_000,
        0u64..1_000_000,
        prop::option::of(0u64..1000),
    )
        .prop_map(|(p, c, cached)| {
            let mut u = json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c});
            if let Some(cached) = cached {
                u["prompt_tokens_details"] = json!({"cached_tokens": cached});
            }
            u
        });
    let error = (
        ".{0,24}",
        prop_oneof![
            Just(json!("rate_limit_exceeded")),
            Just(json!("context_length_exceeded")),
            Just(json!(500)),
            Just(json!(null)),
        ],
    )
        .prop_map(
            |(message, code)| json!({"message": message, "type": "server_error", "code": code}),
        );
    (
        prop::collection::vec(chunk_choice(), 0..3),
        prop_oneof![5 => Just(None), 1 => usage.prop_map(Some)],
        prop_oneof![30 => Just(None), 1 => error.prop_map(Some)],
    )
        .prop_map(|(choices, usage, error)| {
            object(vec![
                ("id", Some(json!("chatcmpl-fuzz"))),
                ("object", Some(json!("chat.completion.chunk"))),
                ("model", Some(json!("m"))),
                ("choices", Some(serde_json::Value::Array(choices))),
                ("usage", usage),
                ("error", error),
            ])
        })
}

/// What the converter's contract says a chunk sequence turns into, worked
/// out independently of it.
#[derive(Debug, Default)]
struct Expected {
    text: String,
    reasoning: String,
    refusal: String,
    /// The first finish reason of choice 0.
    stop: Option<StopReason>,
    /// Tool calls by index, in the order each began: (id, name, arguments).
    tools: std::collections::BTreeMap<u32, Vec<(String, String, String)>>,
    usage: Option<TokenUsage>,
    /// Whether any chunk had a choice 0 (the reply began).
    began: bool,
    /// Chunks read, the one with an error object included.
    chunks: u64,
    /// The error object's message, when a chunk carried one.
    error: Option<String>,
    /// Bytes of text, ids, names and arguments read.
    input_bytes: usize,
    /// Text fields and tool-call fragments read.
    pieces: usize,
}

fn expected(chunks: &[ChatChunk]) -> Expected {
    let mut x = Expected::default();
    for c in chunks {
        x.chunks += 1;
        if let Some(e) = &c.error {
            x.error = Some(e.message.clone());
            break;
        }
        if let Some(u) = &c.usage {
            x.usage = Some(TokenUsage::from(u));
        }
        // Only choice 0 is read; the first one numbered 0.
        let Some(choice) = c.choices.iter().find(|ch| ch.index == 0) else {
            continue;
        };
        x.began = true;
        let d = &choice.delta;
        for (out, t) in [
            (&mut x.reasoning, d.reasoning_text()),
            (&mut x.text, d.content.as_deref()),
            (&mut x.refusal, d.refusal.as_deref()),
        ] {
            if let Some(t) = t {
                out.push_str(t);
                x.input_bytes += t.len();
                x.pieces += 1;
            }
        }
        for call in d.tool_calls.iter().flatten() {
            x.pieces += 1;
            let f = call.function.as_ref();
            let args = f.and_then(|f| f.arguments.as_deref()).unwrap_or_default();
            let name = f.and_then(|f| f.name.as_deref()).unwrap_or_default();
            let id = call.id.as_deref().unwrap_or_default();
            x.input_bytes += args.len() + name.len() + id.len();
            // Fragments after the finish reason join the calls before it.
            let calls = x.tools.entry(call.index).or_default();
            // Documented: later fragments repeat the id, send "" or none; a
            // different id at the same index is a new call.
            let new = match calls.last() {
                None => true,
                Some(last) => !id.is_empty() && !last.0.is_empty() && last.0 != id,
            };
            if new {
                calls.push(Default::default());
            }
            let acc = calls.last_mut().unwrap();
            if acc.0.is_empty() {
                id.clone_into(&mut acc.0);
            }
            if acc.1.is_empty() {
                name.clone_into(&mut acc.1);
            }
            acc.2.push_str(args);
        }
        if let Some(r) = &choice.finish_reason {
            x.stop.get_or_insert_with(|| StopReason::from(r));
        }
    }
    x
}

/// Checks the event grammar: one start, first; blocks never nested; a
/// delta inside a block of its kind; at most one stop, and metadata last.
/// Returns the tool calls the events show.
fn check_grammar(events: &[StreamEvent]) -> Result<Vec<(String, String, String)>, String> {
    let mut open: Option<&BlockStart> = None;
    let mut calls = Vec::new();
    let mut stopped = false;
    for (i, e) in events.iter().enumerate() {
        match e {
            StreamEvent::MessageStart { .. } if i == 0 => {}
            StreamEvent::MessageStart { .. } => return Err(format!("a second start at {i}")),
            _ if i == 0 => return Err("the first event is not the start".into()),
            StreamEvent::ContentBlockStart(b) => {
                if open.is_some() {
                    return Err(format!("a block starts inside another at {i}"));
                }
                if stopped {
                    return Err(format!("a block starts after the stop at {i}"));
                }
                if let BlockStart::ToolUse { id, name } = b {
                    calls.push((id.clone(), name.clone(), String::new()));
                }
                open = Some(b);
            }
            StreamEvent::ContentBlockDelta(d) => {
                let fits = match (open, d) {
                    (Some(BlockStart::Text), BlockDelta::Text(t))
                    | (Some(BlockStart::Reasoning), BlockDelta::Reasoning(t))
                    | (Some(BlockStart::Refusal), BlockDelta::Refusal(t)) => !t.is_empty(),
                    (Some(BlockStart::ToolUse { .. }), BlockDelta::ToolUseInput(a)) => {
                        calls.last_mut().unwrap().2.push_str(a);
                        !a.is_empty()
                    }
                    _ => false,
                };
                if !fits {
                    return Err(format!("delta {d:?} in block {open:?} at {i}"));
                }
            }
            StreamEvent::ContentBlockStop => {
                if open.take().is_none() {
                    return Err(format!("a block stop outside a block at {i}"));
                }
            }
            StreamEvent::MessageStop { .. } => {
                if open.is_some() || stopped {
                    return Err(format!("a stop inside a block or a second one at {i}"));
                }
                stopped = true;
            }
            StreamEvent::Metadata { .. } => {
                if i + 1 != events.len() || !stopped {
                    return Err(format!("metadata not last after the stop at {i}"));
                }
            }
        }
    }
    Ok(calls)
}

/// The text of one kind of delta.
fn deltas(events: &[StreamEvent], want: fn(&BlockDelta) -> Option<&str>) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ContentBlockDelta(d) => want(d),
            _ => None,
        })
        .collect()
}

/// Bytes of text the events carry.
fn event_bytes(events: &[StreamEvent]) -> usize {
    events
        .iter()
        .map(|e| match e {
            StreamEvent::ContentBlockStart(BlockStart::ToolUse { id, name }) => {
                id.len() + name.len()
            }
            StreamEvent::ContentBlockDelta(
                BlockDelta::Text(t)
                | BlockDelta::Reasoning(t)
                | BlockDelta::Refusal(t)
                | BlockDelta::ToolUseInput(t),
            ) => t.len(),
            _ => 0,
        })
        .sum()
}

/// Runs `chunks` through an [`EventConverter`] and checks the result
/// against [`expected`], the event grammar included.
fn convert_and_check(chunks: &[ChatChunk]) -> Result<(), TestCaseError> {
    let x = expected(chunks);
    let mut conv = EventConverter::new(std::time::Instant::now());
    let mut events = Vec::new();
    let mut failed = None;
    for (i, c) in chunks.iter().enumerate() {
        // The converter's state stays linear in what it read: its `Debug`
        // shows everything it holds (escaping takes at most ten bytes per
        // byte; each call or index adds a few dozen).
        let pushed = conv.push(c, &mut events);
        let state = format!("{conv:?}").len();
        prop_assert!(
            state <= 512 + 10 * x.input_bytes + 96 * x.pieces,
            "converter state of {} bytes for {} bytes of input",
            state,
            x.input_bytes
        );
        if let Err(e) = pushed {
            failed = Some((i, e));
            break;
        }
    }
    let finished = match &failed {
        // An error object ends the reply, in the chunk that carries it.
        Some((i, e)) => {
            prop_assert_eq!(*i as u64 + 1, x.chunks);
            let api = match e {
                ModelError::Client(ClientError::Api(api)) => api,
                ModelError::Throttled(api) | ModelError::ContextWindowOverflow(api) => api,
                other => return Err(TestCaseError::fail(format!("untyped error {other:?}"))),
            };
            prop_assert_eq!(Some(&api.message), x.error.as_ref());
            prop_assert!(!e.to_string().is_empty());
            false
        }
        None => {
            prop_assert!(x.error.is_none());
            match conv.finish(&mut events) {
                Ok(()) => {
                    prop_assert!(x.stop.is_some(), "finished without a stop reason");
                    true
                }
                Err(ModelError::Client(ClientError::Truncated { chunks })) => {
                    prop_assert!(x.stop.is_none(), "truncated with a stop reason");
                    prop_assert_eq!(chunks, x.chunks);
                    false
                }
                Err(other) => return Err(TestCaseError::fail(format!("untyped end {other:?}"))),
            }
        }
    };

    // Every piece of text comes out once, in order, per kind.
    prop_assert_eq!(
        deltas(&events, |d| match d {
            BlockDelta::Text(t) => Some(t),
            _ => None,
        }),
        x.text
    );
    prop_assert_eq!(
        deltas(&events, |d| match d {
            BlockDelta::Reasoning(t) => Some(t),
            _ => None,
        }),
        x.reasoning
    );
    prop_assert_eq!(
        deltas(&events, |d| match d {
            BlockDelta::Refusal(t) => Some(t),
            _ => None,
        }),
        x.refusal
    );
    // Output is bounded by the input: no text is duplicated, and each event
    // stands for at most a piece of input or a block around one.
    prop_assert!(event_bytes(&events) <= x.input_bytes);
    prop_assert!(events.len() <= 4 + 3 * x.pieces, "{} events", events.len());

    let starts = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::MessageStart { .. }))
        .count();
    prop_assert_eq!(starts, usize::from(x.began));
    let stops: Vec<&StopReason> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::MessageStop { stop_reason } => Some(stop_reason),
            _ => None,
        })
        .collect();
    // The stop comes at the end of the reply, or before the error that
    // ends a reply which had already stopped.
    prop_assert_eq!(stops, x.stop.iter().collect::<Vec<_>>());
    match events.last() {
        Some(StreamEvent::Metadata { usage, .. }) => {
            prop_assert!(finished);
            prop_assert_eq!(usage, &x.usage);
        }
        _ => prop_assert!(!finished, "finished without metadata"),
    }

    // Tool calls: shown, in index order, once the reply stops.
    let grammar = check_grammar(&events);
    let want: Vec<(String, String, String)> = match x.stop {
        Some(_) => x.tools.into_values().flatten().collect(),
        None => Vec::new(),
    };
    let calls = grammar.map_err(TestCaseError::fail)?;
    prop_assert_eq!(calls, want);
    Ok(())
}

fn decoded(chunks: &[serde_json::Value]) -> Vec<ChatChunk> {
    chunks
        .iter()
        .map(|c| serde_json::from_value(c.clone()).expect("the generator makes valid chunks"))
        .collect()
}

proptest! {
    #![proptest_config(cases(2_000))]

    /// Arbitrary chunk sequences: never a panic; an error object is a typed
    /// error at its chunk; a reply without a finish reason is `Truncated`;
    /// text, reasoning and refusal come out exactly as sent; tool calls as
    /// the documented grouping gives them; usage, stop reason and metadata
    /// as sent; output and state linear in the input.
    #[test]
    fn chunk_sequences_convert_to_checked_events(
        chunks in prop::collection::vec(chunk_json(), 0..24),
    ) {
        convert_and_check(&decoded(&chunks))?;
    }
}

/// Content and tool-call fragments after choice 0's finish reason (a server
/// bug, but a server can send it): text gets a block of its own, a fragment
/// joins the call it continues, all before `MessageStop`; nothing is
/// dropped and the grammar holds.
#[test]
fn text_after_the_finish_reason_keeps_the_event_grammar() {
    let chunks = decoded(&[
        json!({"choices": [{"index": 0, "delta": {"content": "a", "tool_calls": [
            {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": "{\"x\":"}}
        ]}, "finish_reason": "tool_calls"}]}),
        json!({"choices": [{"index": 0, "delta": {"content": "b"}}]}),
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": "1}"}}
        ]}}]}),
    ]);
    convert_and_check(&chunks).unwrap();
    let mut conv = EventConverter::new(std::time::Instant::now());
    let mut events = Vec::new();
    for c in &chunks {
        conv.push(c, &mut events).unwrap();
    }
    conv.finish(&mut events).unwrap();
    let calls = check_grammar(&events).unwrap();
    assert_eq!(
        calls,
        [("call_1".to_owned(), "f".to_owned(), "{\"x\":1}".to_owned())],
        "the late fragment joins its call: {events:?}"
    );
}

/// A long reply in many small chunks: the text comes out whole, and the
/// converter's state does not grow with it (text is passed on, not kept).
#[test]
fn a_long_stream_converts_without_keeping_its_text() {
    let piece = "ünïcödé text, ";
    let mut conv = EventConverter::new(std::time::Instant::now());
    let mut text = String::new();
    let mut max_state = 0;
    for i in 0..20_000 {
        let mut events = Vec::new();
        let finish = if i == 19_999 {
            json!("stop")
        } else {
            json!(null)
        };
        let c: ChatChunk = serde_json::from_value(
            json!({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": finish}]}),
        )
        .unwrap();
        conv.push(&c, &mut events).unwrap();
        text.push_str(&deltas(&events, |d| match d {
            BlockDelta::Text(t) => Some(t),
            _ => None,
        }));
        max_state = max_state.max(format!("{conv:?}").len());
    }
    let mut events = Vec::new();
    conv.finish(&mut events).unwrap();
    assert_eq!(text, piece.repeat(20_000));
    assert!(max_state < 1024, "converter state of {max_state} bytes");
}

// ------------------------------------------------------- JSON schema output

static SCHEMA: LazyLock<JsonSchemaOutput> = LazyLock::new(|| {
    JsonSchemaOutput::new(&json!({
        "type": "object",
        "properties": {"name": {"type": "string"}, "tags": {"type": "array"}},
        "required": ["name"],
    }))
    .unwrap()
});

/// Text for the JSON-schema check: arbitrary UTF-8, JSON-looking pieces,
/// and valid replies with non-ASCII strings.
fn reply_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => any::<String>(),
        2 => "[\\[\\]{}\",:0-9a-z \\\\]{1,20}",
        1 => any::<String>().prop_map(|s| json!({"name": s, "tags": [s]}).to_string()),
        1 => Just("```json\n".to_owned()),
    ];
    prop::collection::vec(piece, 0..6).prop_map(|p| p.concat())
}

/// What a chunk hook made of a stream: whether it tripped (and the
/// tripwire's kind), and the most bytes its state kept at once.
fn schema_stream(
    check: &JsonSchemaOutput,
    pieces: &[String],
    choice_of: &[bool],
) -> (Option<String>, usize) {
    let cx = HookContext::new("m");
    let mut state = JsonSchemaState::default();
    let mut max_held = 0;
    let n = pieces.len();
    for (i, p) in pieces.iter().enumerate() {
        // Choice 1 gets some pieces; it never finishes, and is judged at
        // the end.
        let index = u32::from(choice_of.get(i).copied().unwrap_or(false));
        let mut c = chunk(index, Field::Content, p, index == 0 && i + 1 == n);
        let r = check.on_chunk(&mut c, &mut state, &cx);
        max_held = max_held.max(state.held_bytes());
        match r {
            Ok(ChunkAction::Pass) => {}
            Ok(ChunkAction::Drop) => panic!("the schema check never drops"),
            Err(e) => return (Some(tripwire_kind(e)), max_held),
        }
    }
    match check.on_end(&mut state, &cx) {
        Ok(None) => (None, max_held),
        Ok(Some(_)) => panic!("the schema check flushes nothing"),
        Err(e) => (Some(tripwire_kind(e)), max_held),
    }
}

fn tripwire_kind(e: HookError) -> String {
    match e {
        HookError::Tripwire(t) => t.info["kind"].as_str().unwrap_or_default().to_owned(),
        other => panic!("not a tripwire: {other}"),
    }
}

proptest! {
    #![proptest_config(cases(1_000))]

    /// Arbitrary UTF-8, whole and streamed in arbitrary pieces (some into a
    /// second choice), under caps from 0 bytes to the default: no panic;
    /// the state never keeps more than the cap; a reply over the cap trips
    /// as `too_long`, never passes; under it, the stream is judged as the
    /// whole text is. Texts are repeated up to 2,000 times so that many
    /// runs are far over a small cap.
    #[test]
    fn json_schema_output_is_bounded_on_any_utf8(
        text in reply_text(),
        repeat in prop_oneof![3 => Just(1usize), 1 => 1usize..2_000],
        cap in prop_oneof![
            1 => Just(JsonSchemaOutput::DEFAULT_MAX_TEXT_BYTES),
            2 => 0usize..600,
        ],
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        choice_of in prop::collection::vec(prop::bool::weighted(0.2), 0..12),
    ) {
        let text = text.repeat(repeat);
        let check = SCHEMA.clone().max_text_bytes(cap);
        let whole = check.check(&text);
        let fenced = SCHEMA.clone().allow_code_fence(true).max_text_bytes(cap).check(&text);
        prop_assert!(!whole.tripped || whole.info["kind"].is_string());
        if text.len() > cap {
            prop_assert_eq!(&whole.info["kind"], "too_long");
            prop_assert_eq!(&fenced.info["kind"], "too_long");
        }

        let mut pieces = split(&text, &cuts);
        if pieces.is_empty() {
            // An empty reply is one empty chunk.
            pieces.push(String::new());
        }
        let (tripped, max_held) = schema_stream(&check, &pieces, &choice_of);
        prop_assert!(max_held <= cap, "kept {} bytes under a cap of {}", max_held, cap);
        if text.len() > cap {
            prop_assert_eq!(tripped.as_deref(), Some("too_long"));
        }
        // One choice, under the cap: judged as the whole text is.
        let (single, _) = schema_stream(&check, &pieces, &[]);
        if text.len() <= cap {
            prop_assert_eq!(single.is_some(), whole.tripped, "{:?}", single);
        } else {
            prop_assert_eq!(single.as_deref(), Some("too_long"));
        }
    }
}
