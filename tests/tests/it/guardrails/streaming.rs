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
//!
//! The same with default-ignorable characters (zero-width space and the
//! like, which fold to nothing) sprinkled anywhere, plants included, a few
//! or thousands at a time: nothing planted leaks, findings and tripwires are
//! those of the whole text, the output differs from it only by some of
//! those characters, and what a hook holds stays bounded.

use crate::support;

use std::sync::LazyLock;

use openai_hooks::OnChunk;
use openai_hooks::guardrails::{
    Check, KeywordAction, Keywords, Pii, PiiAction, SecretAction, SecretKeys, UrlAction, UrlFilter,
};
use openai_hooks::limits::{IGNORABLE_HOLD_CAP, PII_HOLD_CAP, SECRET_TOKEN_CAP, URL_TOKEN_CAP};
use proptest::prelude::*;
use support::stream::{
    Field, Held, Seen, chunk, prefix_less_ignorables, run, split, stream_held, stream_text, visible,
};

/// The configured keywords.
const TERMS: &[&str] = &[
    "acme",
    "Globex Corp",
    "initech.",
    "c++",
    "@handle",
    "-x-",
    "ai",
];
static KEYWORDS: LazyLock<Keywords> =
    LazyLock::new(|| BLOCK_KEYWORDS.clone().action(KeywordAction::Mask));
/// Terms that all begin with a word of four letters or more, which lets the
/// scanner pass over shorter words without a look.
static LONG_KEYWORDS: LazyLock<Keywords> = LazyLock::new(|| {
    Keywords::new(&TERMS[..3])
        .unwrap()
        .action(KeywordAction::Mask)
});
/// `KEYWORDS`, blocking.
static BLOCK_KEYWORDS: LazyLock<Keywords> = LazyLock::new(|| Keywords::new(TERMS).unwrap());
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
    "です。",
    "例えば",
    "e.g.",
    "lib.rs",
    "10:30",
    "a:b",
    "//",
    "https://example.com/ok",
    "[a](docs/x.md)",
    "&amp;",
    "sk",
    "c+",
    "12",
    "3a",
    "emca",
    "привет",
    "мир",
    "Ελλάδα",
    "κείμενο",
    "e\u{301}",
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
    // Look-alikes from other scripts, mathematical letters, marks.
    "Асme",
    "ΑСΜΕ",
    "𝐚𝐜𝐦𝐞",
    "ac\u{301}me",
    "a\u{301}c\u{302}\u{303}m\u{304}e\u{20DD}",
    "Glοbеx Cоrp",
    "с++",
    // Shown in order by an RTL override, closed or not.
    "\u{202E}emca\u{202C}",
    "\u{202E}proc xebolG\u{202C}",
    "\u{2067}\u{202E}еmса\u{202C}\u{2069}",
    "\u{202E}eldnah@\u{202C}",
    "\u{202E}++c\u{202C}",
    "\u{202E}emca\n",
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
    "evil.com/path",
    // As a browser or a markdown renderer reads them.
    "![x](//evil.test/p?d=SECRET)",
    "https:evil.test/x",
    "HTTPS:\\\\EVIL.TEST/x",
    "[a](javascript:alert(1))",
    "href=\"java&#x09;script:alert(1)\"",
    "data:text/html;base64,PHNjcmlwdD4=",
    "src=//evil.com/i.png",
    "https://\u{435}xample.com/login",
    "https://пример.рф/",
    "ｈｔｔｐｓ：／／ｅｖｉｌ．ｔｅｓｔ／ｘ",
    "https://example.com\u{3002}evil.jp/",
    "[a](https://example.com\"@evil.test/)",
    "**www.evil.test**",
    "詳しくはhttps://evil.testをご覧ください",
];

/// URL plants without a scheme.
const URL_BARE: &[&str] = &["www.phish.test", "evil.com/path", "**www.evil.test**"];

/// URL plants whose scheme has no `//` after it.
const URL_NO_SLASHES: &[&str] = &[
    "https:evil.test/x",
    "HTTPS:\\\\EVIL.TEST/x",
    "data:text/html;base64,PHNjcmlwdD4=",
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

/// Default-ignorable characters of every kind the fold drops: zero-width
/// space, joiner and non-joiner, word joiner, BOM, soft hyphen, bidi
/// override, variation selector, Mongolian vowel separator, a tag.
const IGNORABLES: &[char] = &[
    '\u{200B}',
    '\u{200C}',
    '\u{200D}',
    '\u{2060}',
    '\u{FEFF}',
    '\u{AD}',
    '\u{202E}',
    '\u{FE0F}',
    '\u{180E}',
    '\u{E0041}',
];

/// For keywords, also the combining marks their fold drops, and bidi marks.
/// (Not the controls that close or isolate an override: put inside a
/// reversed plant, they change what it displays.)
const KEYWORD_INVISIBLES: &[char] = &[
    '\u{200B}', '\u{2060}', '\u{FEFF}', '\u{202E}', '\u{200F}', '\u{301}', '\u{308}', '\u{20DD}',
];

/// A text of [`text_with`] with runs of default-ignorable characters put in
/// at random places, inside plants too: mostly a few, sometimes hundreds
/// (more than a hook holds of them).
fn sprinkled(
    plants: &'static [&'static str],
) -> impl Strategy<Value = (String, Vec<&'static str>)> {
    sprinkled_with(plants, IGNORABLES)
}

/// [`sprinkled`] with `invisible` characters.
fn sprinkled_with(
    plants: &'static [&'static str],
    invisible: &'static [char],
) -> impl Strategy<Value = (String, Vec<&'static str>)> {
    let run = (
        any::<prop::sample::Index>(),
        prop_oneof![4 => 1usize..4, 1 => 60usize..3000],
        prop::sample::select(invisible),
    );
    (text_with(plants), prop::collection::vec(run, 0..6)).prop_map(|((text, planted), runs)| {
        let mut at: Vec<(usize, usize, char)> = runs
            .into_iter()
            .map(|(i, n, c)| {
                let bounds: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
                (
                    bounds
                        .get(i.index(bounds.len().max(1)))
                        .copied()
                        .unwrap_or(0),
                    n,
                    c,
                )
            })
            .collect();
        at.sort_unstable_by_key(|a| std::cmp::Reverse(a.0));
        let mut text = text;
        for (b, n, c) in at {
            text.insert_str(b, &c.to_string().repeat(n));
        }
        (text, planted)
    })
}

/// Many cuts, so a long run of ignorable characters spans many chunks.
fn many_cuts() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(any::<usize>(), 0..300)
}

/// The most a field may hold, in original bytes, under a cap in folded
/// bytes.
fn bound(cap: usize) -> usize {
    4 * cap + IGNORABLE_HOLD_CAP
}

/// The longest configured keyword, in folded bytes.
const KEYWORD_CAP: usize = "Globex Corp".len();

/// Whether `got`, ignorable characters left out, shows none of the plants
/// (so left out) that filler words do not contain.
fn visible_plants_absent(planted: &[&str], got: &str) -> Result<(), TestCaseError> {
    let shown = visible(got);
    for p in planted.iter().map(|p| visible(p)).filter(|p| !in_filler(p)) {
        prop_assert!(!shown.contains(&p), "{got:?} leaks {p:?}");
    }
    Ok(())
}

/// The checks for a guardrail over a text with ignorable characters: it
/// trips exactly when the whole text does; nothing it passes (nor any one
/// chunk) matches; masking, it shows what the whole-text check gives, up to
/// such characters; blocking, what it passed is the text (or a prefix of it
/// when it trips) less some of them; and the hold stays within `cap`'s
/// bound.
fn check_sprinkled<H: OnChunk<State: Held>>(
    hook: &H,
    whole: impl Fn(&str) -> Check,
    text: &str,
    planted: &[&str],
    cuts: &[usize],
    cap: usize,
    finish: bool,
) -> Result<(), TestCaseError> {
    let (seen, held) = stream_held(hook, &split(text, cuts), Field::Content, finish);
    prop_assert!(held <= bound(cap), "held {} bytes", held);
    prop_assert!(!seen.text_after_finish);
    let got = seen.text(0);
    prop_assert_eq!(&whole(&got).info["total"], 0, "{:?} leaks", got);
    shown_so_far_is_clean(&seen, &whole)?;
    visible_plants_absent(planted, &got)?;
    let checked = whole(text);
    prop_assert_eq!(seen.error.is_some(), checked.tripped, "{:?}", seen.error);
    match checked.text {
        Some(expected) => prop_assert_eq!(visible(&got), visible(&expected)),
        None => {
            prop_assert!(
                prefix_less_ignorables(&got, text),
                "{got:?} is not the input, or a prefix of it, less ignorables"
            );
            if !checked.tripped {
                prop_assert_eq!(visible(&got), visible(text));
            }
        }
    }
    Ok(())
}

/// Whether what the caller has been shown after each chunk, read as a
/// whole text, matches nothing: no match is ever on screen, even for a
/// moment. (A chunk alone may match where its context does not: `aï` of
/// `naïve` reads as `ai`.)
fn shown_so_far_is_clean(seen: &Seen, whole: impl Fn(&str) -> Check) -> Result<(), TestCaseError> {
    let mut shown = String::new();
    for (_, c) in &seen.chunks {
        shown.push_str(c);
        prop_assert_eq!(&whole(&shown).info["total"], 0, "{:?} shows a match", shown);
    }
    Ok(())
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
    shown_so_far_is_clean(&seen, &whole)?;
    for (_, c) in &seen.chunks {
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
    fn urls_after_long_runs_never_leak(
        run in 1500usize..5000,
        sep in prop::sample::select(&["", "=", "+", "/", ",", "(", "\"", " "][..]),
        plant in prop::sample::select(URL_PLANTS),
        cuts in cuts(),
        finish: bool,
    ) {
        // Hosts without a scheme are looked for at the start of a token; a
        // scheme glued to the base64 is another scheme (which a browser
        // would not follow without slashes).
        prop_assume!(sep == " " || !URL_BARE.contains(&plant));
        prop_assume!(!["", "+"].contains(&sep) || !URL_NO_SLASHES.contains(&plant));
        // Unbroken base64 then a URL: a piece boundary of the token may fall
        // anywhere near it.
        let b64: String = "QWxhZGRpbjpvcGVuIHNlc2FtZQ".chars().cycle().take(run).collect();
        let text = format!("x {b64}{sep}{plant} tail");
        let spread: Vec<usize> = cuts.iter().map(|c| c * 3).collect();
        check_masking(&*URLS, |t| URLS.check(t), &text, &[plant], &spread, Field::Content, finish)?;
        prop_assert!(URLS.check(&text).info["total"].as_u64() > Some(0), "{text:?}");
        let block = UrlFilter::new(["example.com"]).unwrap();
        check_sprinkled(&block, |t| block.check(t), &text, &[plant], &spread, URL_TOKEN_CAP, finish)?;
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
    fn keywords_never_leak_through_ignorables((text, planted) in sprinkled_with(KEYWORD_PLANTS, KEYWORD_INVISIBLES), cuts in many_cuts(), finish: bool) {
        check_sprinkled(&*KEYWORDS, |t| KEYWORDS.check(t), &text, &planted, &cuts, KEYWORD_CAP, finish)?;
        check_sprinkled(&*BLOCK_KEYWORDS, |t| BLOCK_KEYWORDS.check(t), &text, &planted, &cuts, KEYWORD_CAP, finish)?;
    }

    #[test]
    fn pii_never_leaks_through_ignorables((text, planted) in sprinkled(PII_PLANTS), cuts in many_cuts(), finish: bool) {
        check_sprinkled(&*PII, |t| PII.check(t), &text, &planted, &cuts, PII_HOLD_CAP, finish)?;
        let block = Pii::new().action(PiiAction::Block);
        check_sprinkled(&block, |t| block.check(t), &text, &planted, &cuts, PII_HOLD_CAP, finish)?;
    }

    #[test]
    fn secrets_never_leak_through_ignorables((text, planted) in sprinkled(SECRET_PLANTS), cuts in many_cuts(), finish: bool) {
        check_sprinkled(&*SECRETS, |t| SECRETS.check(t), &text, &planted, &cuts, SECRET_TOKEN_CAP, finish)?;
        let block = SecretKeys::new();
        check_sprinkled(&block, |t| block.check(t), &text, &planted, &cuts, SECRET_TOKEN_CAP, finish)?;
    }

    #[test]
    fn urls_never_leak_through_ignorables((text, planted) in sprinkled(URL_PLANTS), cuts in many_cuts(), finish: bool) {
        check_sprinkled(&*URLS, |t| URLS.check(t), &text, &planted, &cuts, URL_TOKEN_CAP, finish)?;
        let block = UrlFilter::new(["example.com"]).unwrap();
        check_sprinkled(&block, |t| block.check(t), &text, &planted, &cuts, URL_TOKEN_CAP, finish)?;
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
