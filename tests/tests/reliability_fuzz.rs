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
//! Held-back bytes are what the hook's state reports, checked against the
//! outside view: with blocking actions a chunk hook passes text unchanged
//! but for default-ignorable characters it may drop, so what was fed minus
//! what came out is at least what it holds, and exactly that for text
//! without them. Caps are documented in folded bytes; every character that
//! is not default-ignorable folds to at least one byte and is at most four,
//! so the bound checked is four times the cap in original bytes, plus
//! `IGNORABLE_HOLD_CAP` for default-ignorable characters, which fold to
//! nothing (see `zero_width_characters_are_held_within_a_bound`).

mod support;

use std::sync::LazyLock;
use std::time::Duration;

use futures::StreamExt;
use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::guardrails::{
    IGNORABLE_HOLD_CAP, InputBudget, Keywords, PII_HOLD_CAP, Pii, PiiAction, SECRET_TOKEN_CAP,
    SecretKeys, URL_TOKEN_CAP, UrlFilter,
};
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks::{
    ChatChunk, ChatClient, ChatRequest, ChunkAction, ClientError, HookContext, OnChunk,
};
use proptest::prelude::*;
use serde_json::json;
use support::stream::{Field, Held, chunk, default_ignorable, split, visible};

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
    #![proptest_config(ProptestConfig::with_cases(300))]

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
