//! `Keywords` and `Keywords::competitors` against Unicode disguises: a
//! table of texts with the decision each must get, in both directions,
//! checked whole (`check()`, blocking and masking) and streamed as a chunk
//! hook under many chunkings, where the stream must show what the whole
//! text gives and block before anything of a match gets out. Then bad
//! input: huge runs of marks, overrides and nesting, unassigned code
//! points, and bytes that are not UTF-8 on the wire.

use crate::support;

use std::time::Duration;

use futures::StreamExt;
use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::guardrails::{KeywordAction, Keywords};
use openai_hooks::limits::IGNORABLE_HOLD_CAP;
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks::{ChatClient, ChatRequest, ClientError, openai_client};
use serde_json::json;
use support::stream::{Field, split, stream_held, stream_text};

/// Whether a text must match (`M`) or must not (`N`).
const M: bool = true;
const N: bool = false;

/// The terms of [`LATIN`].
const TERMS: &[&str] = &["acme", "Globex Corp"];

/// Cases for [`TERMS`]: kind, text, decision.
const LATIN: &[(&str, &str, bool)] = &[
    // Look-alikes from other scripts, in any position and case.
    ("look-alike", "Асme", M),
    ("look-alike", "ΑСΜΕ", M),
    ("look-alike", "аcme", M),
    ("look-alike", "acmе", M),
    ("look-alike", "acМe", M),
    ("look-alike", "ACМE", M),
    ("look-alike", "АСМЕ", M),
    ("look-alike", "асме", M),
    ("look-alike", "ΑϹΜΕ", M),
    ("look-alike", "ɑcme", M),
    ("look-alike", "aⅽme", M),
    ("look-alike", "ᎪᏟᎷᎬ", M),
    ("look-alike", "ask Асme today", M),
    ("look-alike", "GLОВЕХ СОRР", M),
    ("look-alike", "Glοbеx Cоrp", M),
    // Mathematical, fullwidth, circled, superscript letters.
    ("compatibility", "𝐚𝐜𝐦𝐞", M),
    ("compatibility", "𝓪𝓬𝓶𝓮", M),
    ("compatibility", "𝔞𝔠𝔪𝔢", M),
    ("compatibility", "𝚊𝚌𝚖𝚎", M),
    ("compatibility", "ＡＣＭＥ", M),
    ("compatibility", "ⓐⓒⓜⓔ", M),
    ("compatibility", "ᴬᶜᴹᴱ", M),
    ("compatibility", "ＧＬＯＢＥＸ\u{3000}ＣＯＲＰ", M),
    ("compatibility", "Globex\u{A0}Corp", M),
    ("compatibility", "𝐆𝐥𝐨𝐛𝐞𝐱 𝐂𝐨𝐫𝐩", M),
    // Combining marks: one, stacked, between every letter, precomposed.
    ("marks", "ac\u{301}me", M),
    ("marks", "ácmé", M),
    ("marks", "a\u{301}\u{302}\u{303}\u{308}cme", M),
    ("marks", "a\u{301}c\u{301}m\u{301}e\u{301}", M),
    ("marks", "acme\u{20DD}", M),
    ("marks", "G\u{301}lobex C\u{327}orp", M),
    // Explicit overrides displaying the word, closed, open to the end of
    // the text or of the line, nested in embeddings and isolates.
    ("bidi", "\u{202E}emca\u{202C}", M),
    ("bidi", "say \u{202E}emca\u{202C} now", M),
    ("bidi", "\u{202E}emca", M),
    ("bidi", "\u{202E}emca\nnext line", M),
    ("bidi", "\u{202B}\u{202E}emca\u{202C}\u{202C}", M),
    ("bidi", "\u{2067}\u{202E}emca\u{202C}\u{2069}", M),
    ("bidi", "\u{202E}\u{202D}x\u{202C} emca\u{202C}", M),
    ("bidi", "\u{202E}proc xebolG\u{202C}", M),
    ("bidi", "\u{202E}emca \u{202E}\u{202C} x\u{202C}", M),
    // Controls around or inside a word in logical order: removed.
    ("bidi", "\u{2066}acme\u{2069}", M),
    ("bidi", "\u{202B}acme\u{202C}", M),
    ("bidi", "\u{202D}acme\u{202C}", M),
    ("bidi", "ac\u{202E}me\u{202C}", M),
    ("bidi", "\u{200F}acme\u{200E}", M),
    // Zero-width characters.
    ("zero-width", "ac\u{200B}me", M),
    ("zero-width", "a\u{200D}c\u{FEFF}m\u{2060}e", M),
    ("zero-width", "\u{200B}acme\u{200B}", M),
    ("zero-width", "Globex\u{200B} Corp", M),
    // All of it at once.
    ("mixed", "\u{202E}е\u{301}m\u{200B}са\u{202C}", M),
    ("mixed", "Ａ\u{200B}с\u{301}𝐦е", M),
    ("mixed", "\u{202E}𝐞𝐦𝐜𝐚\u{202C}", M),
    ("mixed", "\u{202E}ＰＲＯＣ\u{200B} ΧΕΒΟＬＧ\u{202C}", M),
    ("mixed", "Ｇ\u{301}lοbеx\u{A0}Ϲ\u{200D}оrp", M),
    // Code points with no letter: unassigned, private use, noncharacters.
    ("odd code points", "\u{378}acme\u{378}", M),
    ("odd code points", "\u{E000}acme\u{F8FF}", M),
    ("odd code points", "\u{FFFF}acme\u{10FFFF}", M),
    // Word boundaries, as for plain ASCII.
    ("boundary", "acmes", N),
    ("boundary", "xacme", N),
    ("boundary", "acme_x", N),
    ("boundary", "acmeс", N),
    ("boundary", "Асmes", N),
    ("boundary", "a\u{301}cmes", N),
    ("boundary", "GlobexCorp", N),
    ("boundary", "Globex\u{200B}Corp", N),
    // Real words with marks that are not the term.
    ("real words", "café naïve über résumé Ærø", N),
    ("real words", "acmées, acmeé", N),
    // ASCII is read as written: no ASCII-only confusables.
    ("ascii", "acrne", N),
    ("ascii", "4cme ac3me", N),
    ("ascii", "Globex C0rp", N),
    ("ascii", "GIobex Corp", N),
    // Other scripts.
    ("other scripts", "привет мир", N),
    (
        "other scripts",
        "Компания выпустила новый продукт в Москве.",
        N,
    ),
    ("other scripts", "Ελληνικά κείμενα, ακμή και Ακμή", N),
    ("other scripts", "日本語のテキスト", N),
    ("other scripts", "עברית והערות", N),
    ("other scripts", "العربية", N),
    ("other scripts", "हिन्दी पाठ", N),
    ("odd code points", "ac\u{378}me", N),
    // Overrides that do not display the word.
    ("bidi", "emca", N),
    ("bidi", "\u{2067}emca\u{2069}", N),
    ("bidi", "\u{202B}emca\u{202C}", N),
    ("bidi", "\u{202D}emca\u{202C}", N),
    ("bidi", "\u{202E}em\u{202C}ca", N),
    ("bidi", "\u{202E}em\nca", N),
    ("bidi", "em\u{202E}ca\u{202C}", N),
    ("bidi", "emca\u{202E}", N),
    ("bidi", "\u{202E}e\u{202D}mc\u{202C}a\u{202C}", N),
    ("bidi", "\u{202E}emcas\u{202C}", N),
    ("bidi", "\u{202E}emca_\u{202C}", N),
    ("bidi", "\u{2066}\u{202E}em\u{2069}ca\u{202C}", N),
];

/// Terms in other scripts and with marks, as a user may configure them.
const OWN: &[&str] = &["Сбербанк", "Αθήνα", "東京", "café", "Ηνωμένα"];

/// Cases for [`OWN`].
const OWN_CASES: &[(&str, &str, bool)] = &[
    ("own term", "Сбербанк", M),
    ("own term", "СБЕРБАНК", M),
    ("own term", "сбербанк", M),
    ("own term", "СБЕРбанк", M),
    ("own term", "Cбepбaнк", M),
    ("own term", "\u{202E}кнабребС\u{202C}", M),
    ("own term", "Αθήνα", M),
    ("own term", "ΑΘΗΝΑ", M),
    ("own term", "αθηνα", M),
    ("own term", "Ηνωμένα", M),
    ("own term", "ΗΝΩΜΕΝΑ", M),
    ("own term", "ηνωμενα", M),
    ("own term", "ηΝωΜεΝα", M),
    ("own term", "in 東京.", M),
    ("own term", "café", M),
    ("own term", "CAFÉ", M),
    ("own term", "cafe\u{301}", M),
    ("own term", "cafe", M),
    ("own term", "Сбербанка", N),
    ("own term", "Сбер банк", N),
    ("own term", "Αθήναι", N),
    ("own term", "東京都", N),
    ("own term", "cafés", N),
];

/// Ways to cut `text`: whole, in two at every character boundary (for
/// short texts), one character a chunk, and in pieces of a few bytes.
fn cuttings(text: &str) -> Vec<Vec<String>> {
    let mut out = vec![vec![text.to_owned()]];
    if text.chars().count() <= 60 {
        for (i, _) in text.char_indices().skip(1) {
            out.push(vec![text[..i].to_owned(), text[i..].to_owned()]);
        }
    }
    out.push(text.chars().map(String::from).collect());
    for size in [2, 3, 5, 7, 64] {
        let cuts: Vec<usize> = (1..text.len() / size + 1).map(|k| k * size).collect();
        out.push(split(text, &cuts));
    }
    out
}

/// Checks one case under `block` and `mask` (the same terms): the decision
/// whole, and streamed under every cutting.
fn check_case(block: &Keywords, mask: &Keywords, kind: &str, text: &str, matches: bool) {
    let case = format!("{kind}: {text:?}");
    assert_eq!(block.check(text).tripped, matches, "{case} (check)");
    let masked = mask.check(text);
    assert!(!masked.tripped, "{case}");
    assert_eq!(masked.text.is_some(), matches, "{case} (mask)");
    let expected = masked.text.unwrap_or_else(|| text.to_owned());
    assert!(!block.check(&expected).tripped, "{case}: the mask leaks");
    for pieces in cuttings(text) {
        let seen = stream_text(mask, &pieces, Field::Content, true);
        assert!(seen.error.is_none(), "{case}");
        assert_eq!(seen.text(0), expected, "{case} in {pieces:?}");
        let seen = stream_text(block, &pieces, Field::Content, true);
        assert_eq!(seen.error.is_some(), matches, "{case} in {pieces:?}");
        let got = seen.text(0);
        assert!(text.starts_with(&got), "{case}: {got:?} is not a prefix");
        assert!(!block.check(&got).tripped, "{case}: {got:?} leaks");
        // (A clean text may have chunks that match alone: `acme` of
        // `xacme`.)
        for (_, c) in seen.chunks.iter().filter(|_| matches) {
            assert!(!block.check(c).tripped, "{case}: chunk {c:?} leaks");
        }
    }
}

fn check_table(terms: &[&str], cases: &[(&str, &str, bool)]) {
    for competitors in [false, true] {
        let block = match competitors {
            false => Keywords::new(terms).unwrap(),
            true => Keywords::competitors(terms).unwrap(),
        };
        let mask = block.clone().action(KeywordAction::Mask);
        for &(kind, text, matches) in cases {
            check_case(&block, &mask, kind, text, matches);
        }
    }
}

#[test]
fn disguised_latin_terms_match_and_look_alike_prose_does_not() {
    check_table(TERMS, LATIN);
}

#[test]
fn terms_in_other_scripts_match_themselves_in_any_case() {
    check_table(OWN, OWN_CASES);
}

/// Masks cover the disguised word, and only it.
#[test]
fn masks_cover_exactly_the_disguise() {
    let kw = Keywords::new(TERMS).unwrap().action(KeywordAction::Mask);
    for (text, want) in [
        ("ask Асme now", "ask <KEYWORD> now"),
        ("x ac\u{301}me\u{301} y", "x <KEYWORD> y"),
        (
            "say \u{202E}emca\u{202C} now",
            "say <KEYWORD>\u{202E}\u{202C} now",
        ),
        (
            "a \u{202E}x emca y\u{202C} b",
            "a \u{202E}x <KEYWORD> y\u{202C} b",
        ),
        ("(Glοbеx Cоrp)", "(<KEYWORD>)"),
    ] {
        assert_eq!(kw.check(text).text.as_deref(), Some(want), "{text:?}");
    }
    let check = Keywords::competitors(["Acme"]).unwrap().check("АСМЕ");
    assert_eq!(check.info["findings"]["COMPETITOR"], 1);
}

/// The most a field may hold back, in original bytes: four per folded byte
/// of the longest term, plus the characters that fold to nothing.
const BOUND: usize = 4 * "globex corp".len() + IGNORABLE_HOLD_CAP;

/// Streams `text` one character a chunk through the blocking guardrail:
/// whether it tripped, what got out, and the most it held.
fn stream_chars(text: &str) -> (bool, String, usize) {
    let kw = Keywords::new(TERMS).unwrap();
    let pieces: Vec<String> = text.chars().map(String::from).collect();
    let (seen, held) = stream_held(&kw, &pieces, Field::Content, true);
    (seen.error.is_some(), seen.text(0), held)
}

/// Huge runs: 20,000 stacked marks inside the term (and alone), an
/// override 100,000 characters long, and 10,000 nested overrides. Each gets
/// the whole text's decision, and the hold stays within its bound.
#[test]
fn huge_runs_get_a_decision_within_the_hold_bound() {
    let marks = "\u{301}\u{302}".repeat(10_000);
    let zalgo = format!("x a{marks}cme y");
    assert!(Keywords::new(TERMS).unwrap().check(&zalgo).tripped);
    let (tripped, out, held) = stream_chars(&zalgo);
    assert!(tripped && out == "x ", "{}", out.len());
    assert!(held <= BOUND, "held {held}");
    let (tripped, out, held) = stream_chars(&format!("x a{marks}"));
    assert!(!tripped && held <= BOUND, "held {held}");
    assert!(out.starts_with("x a") && out.len() >= 3 + IGNORABLE_HOLD_CAP);

    let long = format!("\u{202E}{} emca\u{202C}", "word ".repeat(20_000));
    assert!(Keywords::new(TERMS).unwrap().check(&long).tripped);
    let (tripped, out, held) = stream_chars(&long);
    assert!(tripped && held <= BOUND, "held {held}");
    assert!(long.starts_with(&out));
    let clean = format!("\u{202E}{}\u{202C}", "word ".repeat(20_000));
    let (tripped, out, held) = stream_chars(&clean);
    assert!(!tripped && out == clean && held <= BOUND, "held {held}");

    let deep = format!(
        "{}emca{}",
        "\u{202E}".repeat(10_000),
        "\u{202C}".repeat(10_000)
    );
    assert!(Keywords::new(TERMS).unwrap().check(&deep).tripped);
    let (tripped, _, held) = stream_chars(&deep);
    assert!(tripped && held <= BOUND, "held {held}");
    let deep = format!("{}\u{202E}emca", "\u{202B}".repeat(10_000));
    assert!(!Keywords::new(TERMS).unwrap().check(&deep).tripped);
}

/// Thousands of override-and-close pairs inside the term: found, and what
/// a masking stream shows keeps its overrides balanced (pairs that cancel
/// out are what it drops first), so nothing after it displays reversed.
#[test]
fn a_flood_of_cancelling_overrides_stays_balanced() {
    let text = format!("x ac{}me y emca", "\u{202E}\u{200B}\u{202C}".repeat(3_000));
    let kw = Keywords::new(TERMS).unwrap().action(KeywordAction::Mask);
    let whole = kw.check(&text).text.expect("found");
    let pieces: Vec<String> = text.chars().map(String::from).collect();
    let (seen, held) = stream_held(&kw, &pieces, Field::Content, true);
    assert!(held <= BOUND, "held {held}");
    let got = seen.text(0);
    let count = |s: &str, c: char| s.chars().filter(|&x| x == c).count();
    assert_eq!(count(&got, '\u{202E}'), count(&got, '\u{202C}'), "{got:?}");
    assert!(
        got.starts_with("x <KEYWORD>") && got.ends_with(" y emca"),
        "{got:?}"
    );
    assert!(!Keywords::new(TERMS).unwrap().check(&got).tripped);
    assert!(whole.starts_with("x <KEYWORD>") && whole.ends_with(" y emca"));
}

/// Every code point alone and next to the term: a decision, no panic.
#[test]
fn every_code_point_gets_a_decision() {
    let kw = Keywords::new(TERMS).unwrap().action(KeywordAction::Mask);
    let mut text = String::new();
    for c in (0..=0x10FFFF).step_by(13).filter_map(char::from_u32) {
        text.push(c);
        text.push_str("acme ");
    }
    let checked = kw.check(&text);
    let pieces = split(&text, &(0..text.len()).step_by(997).collect::<Vec<_>>());
    let seen = stream_text(&kw, &pieces, Field::Content, true);
    assert_eq!(Some(seen.text(0)), checked.text);
}

#[openai_client]
struct Guarded<C> {
    #[inner]
    client: C,
    #[on_chunk]
    words: Keywords,
}

/// An event stream: `events` as `data:` lines, raw bytes.
fn sse(name: &str, events: &[&[u8]]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("evasion-{name}-{}.sse", std::process::id()));
    let mut bytes = Vec::new();
    for e in events {
        bytes.extend_from_slice(b"data: ");
        bytes.extend_from_slice(e);
        bytes.extend_from_slice(b"\n\n");
    }
    std::fs::write(&path, bytes).unwrap();
    path
}

/// What a guarded streamed call gives: the text that got through, and the
/// error it ended with.
async fn stream_call(client: &Guarded<Client<OpenAIConfig>>) -> (String, Option<ClientError>) {
    let req: ChatRequest = serde_json::from_value(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .unwrap();
    let run = async {
        let mut stream = match client.create_stream(req).await {
            Ok(s) => s,
            Err(e) => return (String::new(), Some(e)),
        };
        let mut text = String::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(c) => text.push_str(c.content().unwrap_or_default()),
                Err(e) => return (text, Some(e)),
            }
        }
        (text, None)
    };
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .unwrap()
}

/// Bytes that are not UTF-8, and a JSON escape of half a surrogate pair,
/// end the stream with a typed error before any guardrail sees them; a
/// look-alike split over events is caught.
#[tokio::test]
async fn bad_bytes_on_the_wire_end_in_a_typed_error() {
    let server = LocalServer::start().await.unwrap();
    let client = Guarded {
        client: Client::with_config(
            OpenAIConfig::new()
                .with_api_base(server.base_url())
                .with_api_key("test-key"),
        ),
        words: Keywords::new(TERMS).unwrap(),
    };
    let delta = |s: &str| {
        json!({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
               "choices": [{"index": 0, "delta": {"content": s}}]})
        .to_string()
        .into_bytes()
    };
    let ok = delta("fine \u{0410}");
    for (name, bad) in [
        ("not-utf8", b"{\"x\": \"\xd0\"}\xff\xfe".to_vec()),
        (
            "surrogate",
            br#"{"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [{"index": 0, "delta": {"content": "\ud800"}}]}"#.to_vec(),
        ),
    ] {
        server.push(Reply::fixture(sse(name, &[&ok, &bad])));
        let (text, err) = stream_call(&client).await;
        assert!(err.is_some(), "{name}: the stream ended without an error");
        assert!(!text.contains('\u{0410}'), "{name}: {text:?}");
    }
    server.push(Reply::fixture(sse(
        "split",
        &[&delta("ask \u{0410}"), &delta("\u{0441}m"), &delta("e now")],
    )));
    let (text, err) = stream_call(&client).await;
    let err = err.expect("the look-alike trips");
    let trip = err.tripwire().expect("a tripwire");
    assert_eq!(
        (&*trip.hook, &trip.info["findings"]["KEYWORD"]),
        ("words", &json!(1))
    );
    // The message counts the match; it never names the term.
    assert!(!err.to_string().contains("acme"), "{err}");
    assert_eq!(text, "ask ");
    server.shutdown().await;
}
