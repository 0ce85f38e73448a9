//! Scrubbing secrets out of text that may end up in an error or a log.
//!
//! Written by hand: it looks for a handful of fixed prefixes and runs of
//! token characters, which `memchr`'s substring search does well without
//! pulling a regex engine onto the error path.

use memchr::memmem;

/// What a scrubbed secret is replaced with.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// Prefixes of bearer secrets that must never be printed: OpenAI, Anthropic,
/// Groq, xAI, OpenRouter, GitHub and AWS keys, and `Bearer` headers.
const PREFIXES: [&str; 8] = [
    "sk-",
    "gsk_",
    "xai-",
    "ghp_",
    "github_pat_",
    "AKIA",
    "Bearer ",
    "bearer ",
];

/// Characters a key is made of.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

/// Replaces `key` (when it is long enough to be a real secret) and anything
/// that looks like a bearer secret with [`REDACTED`].
pub(crate) fn scrub(text: &str, key: Option<&str>) -> String {
    let mut out = match key {
        Some(k) if k.len() >= 8 => text.replace(k, REDACTED),
        _ => text.to_owned(),
    };
    for prefix in PREFIXES {
        out = scrub_prefixed(&out, prefix);
    }
    out
}

/// Replaces each `prefix` followed by at least 16 token characters.
fn scrub_prefixed(text: &str, prefix: &str) -> String {
    let bytes = text.as_bytes();
    let finder = memmem::Finder::new(prefix.as_bytes());
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(pos) = finder.find(&bytes[from..]).map(|p| p + from) {
        let start = pos + prefix.len();
        let end = bytes[start..]
            .iter()
            .position(|&b| !is_token_byte(b))
            .map_or(bytes.len(), |n| start + n);
        if end - start >= 16 {
            out.push_str(&text[copied..start]);
            out.push_str(REDACTED);
            copied = end;
        }
        from = end.max(pos + 1);
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_configured_key_and_key_shapes() {
        let key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789";
        let text = format!("bad key {key} and Bearer abcdefghijklmnopqrstuvwx, short sk-abc");
        let out = scrub(&text, Some(key));
        assert!(!out.contains("abcdefghijklmnop"), "{out}");
        assert!(out.contains("short sk-abc"), "short tokens stay: {out}");
    }

    #[test]
    fn keeps_text_without_secrets() {
        assert_eq!(scrub("nothing here", None), "nothing here");
        assert_eq!(scrub("ü sk- ü", None), "ü sk- ü");
    }
}
