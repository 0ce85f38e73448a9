//! Positive and negative cases for every built-in guardrail (whole-text
//! checks; the input budget as the pre-request hook it is).

mod support;

use openai_hooks::guardrails::{
    Guardrail, GuardrailError, GuardrailResults, InputBudget, KeywordAction, Keywords, Pii,
    PiiAction, PiiEntity, SecretAction, SecretKeys, SecretPreset, UrlAction, UrlFilter,
};
use openai_hooks::{HookContext, PreRequest, Stage};
use support::request::request;
use support::stream::{Field, stream_text};

fn masked(check: openai_hooks::guardrails::Check) -> Option<String> {
    assert!(!check.tripped);
    check.text
}

// ---- Keywords ----

#[test]
fn keywords_match_case_insensitively_on_word_boundaries() {
    let kw = Keywords::new(["Acme", "globex corp."])
        .unwrap()
        .action(KeywordAction::Mask);
    assert_eq!(
        masked(kw.check("Try ACME or Globex Corp!")).as_deref(),
        Some("Try <KEYWORD> or <KEYWORD>!")
    );
    // Not inside other words, not across missing spaces.
    assert_eq!(masked(kw.check("acmes, xacme, acme_x, globexcorp")), None);
    // Trailing punctuation of the configured term is ignored.
    assert_eq!(
        masked(kw.check("globex corp")).as_deref(),
        Some("<KEYWORD>")
    );
}

#[test]
fn keywords_see_through_fullwidth_zero_width_and_decomposed_forms() {
    let kw = Keywords::new(["acme", "café"])
        .unwrap()
        .action(KeywordAction::Mask);
    for text in [
        "Ａｃｍｅ",
        "ac\u{200B}me",
        "a\u{200D}c\u{FEFF}me",
        "\u{200B}acme\u{200B}",
        "cafe\u{301}",
        "CAFÉ",
    ] {
        assert!(kw.check(text).text.is_some(), "{text:?} should match");
    }
    // A combining mark continues the word: `cafe` is not `café`, and `acme`
    // followed by a mark is a different word.
    let kw = Keywords::new(["cafe"]).unwrap();
    assert!(!kw.check("café").tripped);
    assert!(kw.check("cafe").tripped);
    // Only the matched characters are masked; the rest stays as written.
    let kw = Keywords::new(["acme"]).unwrap().action(KeywordAction::Mask);
    assert_eq!(
        masked(kw.check("Ｘ Ａｃｍｅ！")).as_deref(),
        Some("Ｘ <KEYWORD>！")
    );
    // Ignorable characters at the very end are kept too.
    assert_eq!(
        masked(kw.check("acme x\u{200B}\u{FEFF}")).as_deref(),
        Some("<KEYWORD> x\u{200B}\u{FEFF}")
    );
}

#[test]
fn keywords_with_symbol_edges_need_no_boundary_there() {
    let kw = Keywords::new(["c++", "@handle"]).unwrap();
    assert!(kw.check("I like c++.").tripped);
    assert!(kw.check("ping@handle now").tripped);
    assert!(!kw.check("c+ only").tripped);
    assert!(!kw.check("@handles").tripped);
}

#[test]
fn keywords_tripwire_names_the_keyword_and_competitors_say_so() {
    let kw = Keywords::new(["acme"]).unwrap();
    let check = kw.check("ask Acme");
    assert!(check.tripped);
    assert_eq!(check.info["findings"]["acme"], 1);
    let rivals = Keywords::competitors(["Globex"]).unwrap();
    assert_eq!(rivals.name(), "competitors");
    let seen = stream_text(
        &rivals,
        &["we beat glo".into(), "bex easily".into()],
        Field::Content,
        true,
    );
    let err = seen.error.as_ref().expect("trips");
    assert!(
        err.to_string().contains("competitor mentioned: Globex"),
        "{err}"
    );
    assert_eq!(seen.text(0), "we beat ");
}

/// A term that starts near the end of a 64-byte scanning block, in one
/// piece and across chunks.
#[test]
fn keywords_across_scan_blocks() {
    let kw = Keywords::new(["acme corp"])
        .unwrap()
        .action(KeywordAction::Mask);
    for at in 55..70 {
        let text = format!("{} acme corp and more", "x ".repeat(at / 2));
        let want = text.replace("acme corp", "<KEYWORD>");
        assert_eq!(
            masked(kw.check(&text)).as_deref(),
            Some(want.as_str()),
            "{at}"
        );
        let pieces = [text[..at].to_owned(), text[at..].to_owned()];
        assert_eq!(
            stream_text(&kw, &pieces, Field::Content, true).text(0),
            want
        );
    }
}

#[test]
fn keywords_reject_an_empty_list() {
    assert!(matches!(
        Keywords::new(["", " ...", "!"]),
        Err(GuardrailError::NoTerms { .. })
    ));
}

#[test]
fn keywords_hold_back_only_a_possible_match() {
    let kw = Keywords::new(["acme corp"])
        .unwrap()
        .action(KeywordAction::Mask);
    let seen = stream_text(
        &kw,
        &["hello ac".into(), "me co".into(), "rp and acme inc".into()],
        Field::Content,
        false,
    );
    let texts: Vec<&str> = seen.chunks.iter().map(|(_, t)| t.as_str()).collect();
    // "ac" may begin the term: held. "acme co" too. Then it completes.
    assert_eq!(texts, ["hello ", "", "<KEYWORD> and acme inc"]);
}

// ---- PII ----

#[test]
fn pii_masks_every_entity() {
    let pii = Pii::new();
    let cases = [
        ("mail jane.doe@example.com now", "mail <EMAIL_ADDRESS> now"),
        ("card 4111 1111 1111 1111.", "card <CREDIT_CARD>."),
        ("amex 378282246310005", "amex <CREDIT_CARD>"),
        ("iban GB82 WEST 1234 5698 7654 32", "iban <IBAN_CODE>"),
        ("iban DE89370400440532013000", "iban <IBAN_CODE>"),
        ("ssn 123-45-6789", "ssn <US_SSN>"),
        ("ip 192.168.10.25", "ip <IP_ADDRESS>"),
        ("ip 2001:db8::8a2e:370:7334 up", "ip <IP_ADDRESS> up"),
        ("ip fe80::1: up", "ip <IP_ADDRESS>: up"),
        (
            "ip 2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            "ip <IP_ADDRESS>",
        ),
        ("call +1 (555) 123-4567", "call <PHONE_NUMBER>"),
        ("call 555-123-4567", "call <PHONE_NUMBER>"),
        ("call +44 20 7946 0958", "call <PHONE_NUMBER>"),
    ];
    for (text, want) in cases {
        assert_eq!(masked(pii.check(text)).as_deref(), Some(want), "{text}");
    }
}

#[test]
fn pii_leaves_look_alikes_alone() {
    let pii = Pii::new();
    for text in [
        "card 4111 1111 1111 1112",    // Luhn fails
        "iban GB82WEST12345698765433", // mod 97 fails
        "ssn 666-45-6789",             // invalid area
        "version 1.2.3 on 2024-01-15",
        "use std::io and a::b",
        "at 12:30:45, mac 00:1a:2b:3c:4d:5e",
        "order #12345, room 101",
        "999.999.999.999",
        "user at example dot com",
    ] {
        assert_eq!(masked(pii.check(text)), None, "{text}");
    }
}

#[test]
fn pii_reads_fullwidth_digits_and_ignores_zero_width() {
    let pii = Pii::new();
    assert_eq!(
        masked(pii.check("card ４１１１ １１１１ １１１１ １１１１!")).as_deref(),
        Some("card <CREDIT_CARD>!")
    );
    assert_eq!(
        masked(pii.check("ssn 123-4\u{200B}5-6789")).as_deref(),
        Some("ssn <US_SSN>")
    );
    assert_eq!(
        masked(pii.check("josé.núñez@correo.es")).as_deref(),
        Some("<EMAIL_ADDRESS>")
    );
}

#[test]
fn pii_redact_hash_and_block() {
    let text = "a jane@example.com b";
    let redact = Pii::new().action(PiiAction::Redact);
    assert_eq!(masked(redact.check(text)).as_deref(), Some("a  b"));
    let hash = Pii::new().action(PiiAction::Hash);
    let out = masked(hash.check(text)).unwrap();
    assert!(
        out.starts_with("a <EMAIL_ADDRESS:") && out.ends_with("> b"),
        "{out}"
    );
    assert_eq!(masked(hash.check(text)).unwrap(), out, "stable");
    let salted = Pii::new().action(PiiAction::Hash).hash_salt("pepper");
    assert_ne!(masked(salted.check(text)).unwrap(), out);
    let block = Pii::new().action(PiiAction::Block);
    let check = block.check("ssn 123-45-6789 and jane@example.com");
    assert!(check.tripped);
    assert_eq!(check.info["findings"]["US_SSN"], 1);
    assert_eq!(check.info["findings"]["EMAIL_ADDRESS"], 1);
    assert!(!check.info.to_string().contains("jane"));
}

#[test]
fn pii_builder_selects_entities_and_adds_patterns() {
    let pii = Pii::builder()
        .entities([PiiEntity::EmailAddress])
        .pattern("EMPLOYEE_ID", r"\bEMP-[0-9]{6}\b")
        .build()
        .unwrap();
    assert_eq!(
        masked(pii.check("EMP-123456 at a@b.io, ssn 123-45-6789")).as_deref(),
        Some("<EMPLOYEE_ID> at <EMAIL_ADDRESS>, ssn 123-45-6789")
    );
    assert!(matches!(
        Pii::builder().pattern("X", "a*").build(),
        Err(GuardrailError::EmptyMatch { .. })
    ));
    assert!(matches!(
        Pii::builder().pattern("X", "(").build(),
        Err(GuardrailError::Pattern { .. })
    ));
}

#[test]
fn pii_across_chunk_boundaries() {
    let pii = Pii::new();
    let seen = stream_text(
        &pii,
        &[
            "write to jane".into(),
            ".doe@exa".into(),
            "mple.com or 4111 11".into(),
            "11 1111 1111 ok".into(),
        ],
        Field::Content,
        false,
    );
    assert!(seen.error.is_none());
    assert_eq!(seen.text(0), "write to <EMAIL_ADDRESS> or <CREDIT_CARD> ok");
    // The e-mail could still grow until a byte that no address has.
    let texts: Vec<&str> = seen.chunks.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts[0], "write to ");
}

// ---- Secret keys ----

#[test]
fn secrets_by_prefix_and_entropy() {
    let s = SecretKeys::new();
    for text in [
        "key sk-proj-4fT9qLm2Xv8RkP0sWz7YbN3c",
        "sk-ant-api03-Zk9fQ2mLx7Pw4Rt8Yb1Nc6Vd",
        "gsk_8Hq2Lm9Xv4Rt7Wz1Yb6Nc3Pd5Kf0Js",
        "xai-Z8kq2LmN4pR7sT1vW3yB6cD9",
        "AKIAIOSFODNN7EXAMPLE",
        "AIzaSyD4fT9qLm2Xv8RkP0sWz7YbN3cQeR5tUo",
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKl",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGH",
        "token: Zx8#kP2qL9mW4rT7vB1nC6sD",
        "ｓｋ－ｐｒｏｊ－４ｆＴ９ｑＬｍ２Ｘｖ８ＲｋＰ０ｓＷｚ７",
    ] {
        assert!(s.check(text).tripped, "{text}");
    }
    for text in [
        "sk-learn is a library",
        "the sk- prefix",
        "src/guardrails/secret_keys.py",
        "https://example.com/a/b/c/d",
        "jane.doe1977@Example.com",
        "a perfectly ordinary sentence with words",
        "AKIA1234",
    ] {
        assert!(!s.check(text).tripped, "{text}");
    }
}

#[test]
fn secret_presets_and_custom_patterns() {
    let token = "Ab3dEf7hIjK9"; // 12 characters, 3 classes, log2(12) bits
    assert!(
        SecretKeys::preset(SecretPreset::Strict)
            .check(token)
            .tripped
    );
    assert!(
        !SecretKeys::preset(SecretPreset::Balanced)
            .check(token)
            .tripped
    );
    let long = "Qw8eRt5yUi2oPa9sDf4g"; // 20 characters
    assert!(
        SecretKeys::preset(SecretPreset::Balanced)
            .check(long)
            .tripped
    );
    assert!(
        !SecretKeys::preset(SecretPreset::Permissive)
            .check("Qw8eRt5yUi2oPa9")
            .tripped
    );
    let custom = SecretKeys::new()
        .pattern("INTERNAL", r"int-[a-z0-9]{8}")
        .unwrap();
    let check = custom.check("use int-ab12cd34 here");
    assert!(check.tripped);
    assert_eq!(check.info["findings"]["INTERNAL"], 1);
    assert!(SecretKeys::new().pattern("bad", "(").is_err());
}

#[test]
fn secrets_mask_only_the_key() {
    let s = SecretKeys::new().action(SecretAction::Mask);
    assert_eq!(
        masked(s.check("export KEY='sk-proj-4fT9qLm2Xv8RkP0sWz7YbN3c';")).as_deref(),
        Some("export KEY='<SECRET>';")
    );
    assert_eq!(
        masked(s.check("**ghp_abcdefghijklmnopqrstuvwxyz0123456789**.")).as_deref(),
        Some("**<SECRET>**.")
    );
    let check = SecretKeys::new().check("AKIAIOSFODNN7EXAMPLE");
    assert!(!check.info.to_string().contains("AKIA"));
}

// ---- URL filter ----

#[test]
fn url_filter_allow_list() {
    let f = UrlFilter::new([
        "example.com",
        "10.0.0.0/8",
        "192.168.1.5",
        "https://docs.rs/tokio",
    ])
    .unwrap();
    for ok in [
        "see https://example.com/guide.",
        "(https://example.com)",
        "http-less example.com/path",
        "at 10.20.30.40 and 192.168.1.5",
        "https://docs.rs/tokio/latest",
        "files main.rs and README.md",
        "mail jane@evil.test",
        "no urls here",
    ] {
        assert!(!f.check(ok).tripped, "{ok}");
    }
    for bad in [
        "https://evil.test/x",
        "https://sub.example.com/x",
        "http://example.com",
        "ftp://example.com/f",
        "https://user:pw@example.com/",
        "https://docs.rs/serde",
        "www.phish.test",
        "go to evil.test/login",
        "8.8.8.8",
        "https://example.com.evil.test/",
    ] {
        assert!(f.check(bad).tripped, "{bad}");
    }
    let subs = UrlFilter::new(["example.com"])
        .unwrap()
        .allow_subdomains(true)
        .schemes(["https", "http"]);
    assert!(!subs.check("http://a.b.example.com/x").tripped);
    assert!(subs.check("https://badexample.com").tripped);
    assert!(UrlFilter::new(["not a host!"]).is_err());
}

#[test]
fn url_filter_names_the_host_and_masks() {
    let f = UrlFilter::new(["example.com"]).unwrap();
    let check = f.check("visit https://evil.test/a?token=s3cret");
    assert!(check.tripped);
    assert_eq!(check.info["notes"][0], "evil.test");
    assert!(!check.info.to_string().contains("s3cret"));
    let m = UrlFilter::new(["example.com"])
        .unwrap()
        .action(UrlAction::Mask);
    assert_eq!(
        masked(m.check("a https://evil.test/x, b https://example.com/y")).as_deref(),
        Some("a <URL>, b https://example.com/y")
    );
}

// ---- Input budget ----

#[tokio::test]
async fn input_budget_limits() {
    let mut req = request(&["sys", "héllo wörld"]);
    assert_eq!(InputBudget::measure(&req), (3, 16, 4));
    let mut cx = HookContext::new("m");
    for ok in [
        InputBudget::new().max_chars(16),
        InputBudget::new().max_tokens(4),
        InputBudget::new().max_messages(3),
    ] {
        ok.pre_request(&mut req, &mut cx).await.unwrap();
    }
    for (over, limit) in [
        (InputBudget::new().max_chars(15), "max_chars"),
        (InputBudget::new().max_tokens(3), "max_tokens"),
        (InputBudget::new().max_messages(2), "max_messages"),
    ] {
        let err = over.pre_request(&mut req, &mut cx).await.unwrap_err();
        let openai_hooks::HookError::Tripwire(t) = err else {
            panic!("not a tripwire")
        };
        assert_eq!(t.info["limit"], limit);
    }
    let results = GuardrailResults::of(&cx).unwrap().snapshot();
    assert_eq!(results.len(), 6);
    assert_eq!(results.iter().filter(|r| r.tripped).count(), 3);
    assert_eq!(InputBudget::new().stages(), &[Stage::PreRequest]);
}
