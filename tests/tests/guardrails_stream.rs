//! Property tests of the streaming guarantee: random texts with planted
//! terms, PII and secrets, split at random points, through each guardrail
//! as a chunk hook.
//!
//! For every text and chunking:
//! - nothing planted reaches the caller, neither in the whole output nor in
//!   any single chunk;
//! - the streamed output equals checking the whole text at once (so clean
//!   text comes through byte for byte, masks land in the same places);
//! - a blocking guardrail passes exactly a clean prefix of the text, then
//!   trips;
//! - held-back text never follows the chunk that finished its choice.

mod support;

use std::sync::LazyLock;

use openai_hooks::OnChunk;
use openai_hooks::guardrails::{
    Check, KeywordAction, Keywords, Pii, PiiAction, SecretAction, SecretKeys, UrlAction, UrlFilter,
};
use proptest::prelude::*;
use support::stream::{Field, chunk, run, split, stream_text};

static KEYWORDS: LazyLock<Keywords> = LazyLock::new(|| {
    Keywords::new([
        "acme",
        "Globex Corp",
        "initech.",
        "c++",
        "@handle",
        "-x-",
        "ai",
    ])
    .unwrap()
    .action(KeywordAction::Mask)
});
/// Terms that all begin with a word of four letters or more, which lets the
/// scanner pass over shorter words without a look.
static LONG_KEYWORDS: LazyLock<Keywords> = LazyLock::new(|| {
    Keywords::new(["acme", "Globex Corp", "initech."])
        .unwrap()
        .action(KeywordAction::Mask)
});
static PII: LazyLock<Pii> = LazyLock::new(Pii::new);
static SECRETS: LazyLock<SecretKeys> =
    LazyLock::new(|| SecretKeys::new().action(SecretAction::Mask));
static URLS: LazyLock<UrlFilter> = LazyLock::new(|| {
    UrlFilter::new(["example.com"])
        .unwrap()
        .action(UrlAction::Mask)
});

/// Filler that none of the guardrails flags: short words, punctuation,
/// non-ASCII letters, digits that make no PII, line breaks.
const FILLER: &[&str] = &[
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "and",
    "acmes",
    "globex",
    "corpus",
    "café",
    "naïve",
    "日本語",
    "über",
    "x",
    "a",
    "42",
    "7",
    "2024",
    ",",
    ".",
    "!",
    "?",
    "-",
    "(",
    ")",
    "\n",
    "  ",
    "\t",
    "ß",
    "ac",
    "me",
    "sk",
    "c+",
    "12",
    "3a",
];

/// Planted keyword spellings (all match a configured term).
const KEYWORD_PLANTS: &[&str] = &[
    "acme",
    "ACME",
    "Ａｃｍｅ",
    "ac\u{200B}me",
    "a\u{FEFF}c\u{200D}m\u{200B}e",
    "Globex Corp",
    "GLOBEX\u{200D} corp",
    "initech",
    "Initech",
    "c++",
    "@handle",
    "@HANDLE",
    "-x-",
    "＠ｈａｎｄｌｅ",
    "AI",
];

/// Planted PII values, and what their folded value is (for the leak check
/// the original spelling is what must not reach the caller).
const PII_PLANTS: &[&str] = &[
    "jane.doe@example.com",
    "J.Smith+tag@mail.example.org",
    "4111 1111 1111 1111",
    "5500-0000-0000-0004",
    "378282246310005",
    "４１１１１１１１１１１１１１１１",
    "GB82 WEST 1234 5698 7654 32",
    "DE89370400440532013000",
    "123-45-6789",
    "192.168.10.25",
    "2001:db8::8a2e:370:7334",
    "+1 (555) 123-4567",
    "555-123-4567",
    "+44 20 7946 0958",
];

const SECRET_PLANTS: &[&str] = &[
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGH",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "sk-proj-4fT9qLm2Xv8RkP0sWz7YbN3c",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "xai-Z8kq2LmN4pR7sT1vW3yB6cD9",
    "Zx8#kP2qL9mW4rT7vB1nC6sD",
    "ｓｋ－ｐｒｏｊ－４ｆＴ９ｑＬｍ２Ｘｖ８ＲｋＰ０ｓＷｚ７",
];

const URL_PLANTS: &[&str] = &[
    "https://evil.test/a/very/long/path/that/goes/on/and/on/past/one/block/of/sixty/four/bytes?q=1",
    "https://evil.test/steal?x=1",
    "http://example.com/plain",
    "https://user:pw@example.com/x",
    "www.phish.test",
    "evil.test/path",
];

/// Whether filler words contain `p` (so seeing `p` is no leak: `acme` in
/// `acmes`); such plants are checked by re-scanning the output instead.
fn in_filler(p: &str) -> bool {
    FILLER.iter().any(|f| f.contains(p))
}

/// Whether `out` shows a fragment (8 characters) of plant `p` that the text
/// does not have outside its plants: a plant masked only in part.
fn fragment_leak(text: &str, planted: &[&str], p: &str, out: &str) -> Option<String> {
    let mut rest = text.to_owned();
    for q in planted {
        rest = rest.replace(q, "\u{1}");
    }
    let chars: Vec<char> = p.chars().collect();
    chars
        .windows(8)
        .map(|w| w.iter().collect::<String>())
        .find(|w| out.contains(w.as_str()) && !rest.contains(w.as_str()))
}

/// A text of filler words with some plants, each set off by spaces.
fn text_with(
    plants: &'static [&'static str],
) -> impl Strategy<Value = (String, Vec<&'static str>)> {
    let word = prop_oneof![
        4 => prop::sample::select(FILLER).prop_map(|w| (w, false)),
        1 => prop::sample::select(plants).prop_map(|w| (w, true)),
    ];
    prop::collection::vec(word, 0..40).prop_map(|words| {
        let mut text = String::new();
        let mut planted = Vec::new();
        for (w, plant) in words {
            if plant {
                text.push(' ');
                text.push_str(w);
                text.push(' ');
                planted.push(w);
            } else {
                text.push_str(w);
                text.push(' ');
            }
        }
        (text, planted)
    })
}

fn cuts() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..2000, 0..60)
}

/// The common checks for a masking guardrail.
fn check_masking<H: OnChunk>(
    hook: &H,
    whole: impl Fn(&str) -> Check,
    text: &str,
    planted: &[&str],
    cuts: &[usize],
    field: Field,
    finish: bool,
) -> Result<(), TestCaseError> {
    let expected = whole(text).text.unwrap_or_else(|| text.to_owned());
    // What the guardrail finds in its own output: nothing.
    prop_assert_eq!(&whole(&expected).info["total"], 0, "{:?} leaks", expected);
    for p in planted.iter().filter(|p| !in_filler(p)) {
        prop_assert!(
            !expected.contains(p),
            "whole-text check leaks {p:?}: {expected:?}"
        );
        let frag = fragment_leak(text, planted, p, &expected);
        prop_assert!(
            frag.is_none(),
            "whole-text check leaks {frag:?} of {p:?}: {expected:?}"
        );
    }
    let pieces = split(text, cuts);
    let seen = stream_text(hook, &pieces, field, finish);
    prop_assert!(seen.error.is_none(), "{:?}", seen.error);
    prop_assert!(!seen.text_after_finish);
    let got = seen.text(0);
    prop_assert_eq!(&got, &expected);
    for (_, c) in &seen.chunks {
        prop_assert_eq!(&whole(c).info["total"], 0, "chunk {:?} leaks", c);
        for p in planted.iter().filter(|p| !in_filler(p)) {
            prop_assert!(!c.contains(p), "chunk {c:?} leaks {p:?}");
        }
    }
    if planted.is_empty() {
        prop_assert_eq!(&got, text);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn keywords_never_leak((text, planted) in text_with(KEYWORD_PLANTS), cuts in cuts(), finish: bool) {
        check_masking(&*KEYWORDS, |t| KEYWORDS.check(t), &text, &planted, &cuts, Field::Content, finish)?;
    }

    #[test]
    fn long_keywords_never_leak((text, planted) in text_with(&KEYWORD_PLANTS[..7]), cuts in cuts(), finish: bool) {
        check_masking(&*LONG_KEYWORDS, |t| LONG_KEYWORDS.check(t), &text, &planted, &cuts, Field::Content, finish)?;
    }

    #[test]
    fn pii_never_leaks((text, planted) in text_with(PII_PLANTS), cuts in cuts(), finish: bool) {
        check_masking(&*PII, |t| PII.check(t), &text, &planted, &cuts, Field::Content, finish)?;
    }

    #[test]
    fn pii_hash_and_redact_match_whole_text((text, planted) in text_with(PII_PLANTS), cuts in cuts()) {
        let pii = Pii::new().action(PiiAction::Hash);
        check_masking(&pii, |t| pii.check(t), &text, &planted, &cuts, Field::Reasoning, true)?;
        // Redacting joins the text around a finding, which can form new
        // matches; check equality and plants only.
        let pii = Pii::new().action(PiiAction::Redact);
        let expected = pii.check(&text).text.unwrap_or_else(|| text.clone());
        let seen = stream_text(&pii, &split(&text, &cuts), Field::Reasoning, true);
        prop_assert_eq!(seen.text(0), expected);
    }

    #[test]
    fn secrets_never_leak((text, planted) in text_with(SECRET_PLANTS), cuts in cuts(), finish: bool) {
        check_masking(&*SECRETS, |t| SECRETS.check(t), &text, &planted, &cuts, Field::Refusal, finish)?;
    }

    #[test]
    fn urls_never_leak((text, planted) in text_with(URL_PLANTS), cuts in cuts(), finish: bool) {
        check_masking(&*URLS, |t| URLS.check(t), &text, &planted, &cuts, Field::Content, finish)?;
    }

    #[test]
    fn blocking_passes_a_clean_prefix_then_trips((text, planted) in text_with(PII_PLANTS), cuts in cuts()) {
        let pii = Pii::new().action(PiiAction::Block);
        let seen = stream_text(&pii, &split(&text, &cuts), Field::Content, true);
        let got = seen.text(0);
        prop_assert!(text.starts_with(&got), "emitted text is not a prefix of the input");
        prop_assert_eq!(&PII.check(&got).info["total"], 0);
        for p in &planted {
            prop_assert!(fragment_leak(&text, &planted, p, &got).is_none());
            prop_assert!(!got.contains(p), "{got:?} leaks {p:?}");
        }
        prop_assert_eq!(seen.error.is_some(), !planted.is_empty());
        if let Some(err) = seen.error {
            prop_assert!(err.is_tripwire());
            let shown = format!("{err} {:?}", err);
            for p in &planted {
                prop_assert!(!shown.contains(p), "the tripwire echoes {p:?}");
            }
        } else {
            prop_assert_eq!(got, text);
        }
    }

    #[test]
    fn choices_are_separate_streams(
        (a, pa) in text_with(KEYWORD_PLANTS),
        (b, pb) in text_with(KEYWORD_PLANTS),
        cuts_a in cuts(),
        cuts_b in cuts(),
        order in prop::collection::vec(any::<bool>(), 0..120),
    ) {
        let (xs, ys) = (split(&a, &cuts_a), split(&b, &cuts_b));
        let (mut i, mut j) = (0, 0);
        let mut chunks = Vec::new();
        let mut picks = order.into_iter();
        while i < xs.len() || j < ys.len() {
            let take_a = j == ys.len() || (i < xs.len() && picks.next().unwrap_or(true));
            if take_a {
                chunks.push(chunk(0, Field::Content, &xs[i], i + 1 == xs.len()));
                i += 1;
            } else {
                chunks.push(chunk(1, Field::Content, &ys[j], false));
                j += 1;
            }
        }
        let seen = run(&*KEYWORDS, chunks, Field::Content);
        prop_assert!(seen.error.is_none());
        prop_assert!(!seen.text_after_finish);
        let want = |t: &str| KEYWORDS.check(t).text.unwrap_or_else(|| t.to_owned());
        prop_assert_eq!(seen.text(0), want(&a));
        prop_assert_eq!(seen.text(1), want(&b));
        for t in [seen.text(0), seen.text(1)] {
            prop_assert_eq!(&KEYWORDS.check(&t).info["total"], 0);
        }
        for p in pa.iter().chain(&pb).filter(|p| !in_filler(p)) {
            prop_assert!(!seen.text(0).contains(p) && !seen.text(1).contains(p));
        }
    }
}
