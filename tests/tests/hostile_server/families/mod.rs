//! The seeded generators of hostile responses, by family, and the RNG
//! that drives them.

mod bodies;
mod http;
mod streams;

pub(crate) use http::RETRY_AFTERS;

use crate::clients::{PATHS, Path, STREAMS};
use crate::wire::{Resp, Wire};

/// xorshift64*, seeded through splitmix64; `stream` says whether the case's
/// client asks for a stream, so that the families can answer in kind (most
/// of the time).
pub(crate) struct Rng(u64, bool);

impl Rng {
    pub(crate) fn new(seed: u64, stream: bool) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1, stream)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A complete (non-streamed) reply whose content is `content` (JSON text).
fn completion(content: &str) -> String {
    format!(
        r#"{{"id":"r","object":"chat.completion","created":1,"model":"m","choices":[{{"index":0,"message":{{"role":"assistant","content":{content}}},"finish_reason":"stop"}}]}}"#
    )
}

/// One chunk: `choice` is the whole choice object.
fn chunk_with(choice: &str) -> String {
    format!(
        r#"{{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{choice}]}}"#
    )
}

fn chunk(index: &str, content: &str, finish: &str) -> String {
    chunk_with(&format!(
        r#"{{"index":{index},"delta":{{"content":{content}}},"finish_reason":{finish}}}"#
    ))
}

/// `data:` events, each followed by a blank line.
fn sse(events: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(e.as_bytes());
        out.extend_from_slice(b"\n\n");
    }
    out
}

/// A well-formed stream: a few pieces of text, a finish reason, `[DONE]`.
fn good_events(rng: &mut Rng) -> Vec<String> {
    let mut events = vec![chunk_with(
        r#"{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}"#,
    )];
    for _ in 0..1 + rng.below(4) {
        let piece = rng.pick(&[
            "\"Hel\"",
            "\"lo \"",
            "\"wörld 👋 \"",
            "\"see https://example.com \"",
        ]);
        events.push(chunk("0", piece, "null"));
    }
    events.push(chunk("0", "\"\"", "\"stop\""));
    events.push("[DONE]".into());
    events
}

fn good_sse(rng: &mut Rng) -> Vec<u8> {
    sse(&good_events(rng))
}

fn good_json() -> String {
    completion("\"Hello there\"")
}

/// A good reply of the kind the client asks for (one time in five, the
/// other kind), labelled as such.
fn good(rng: &mut Rng, r: Resp) -> Resp {
    if rng.1 != rng.chance(20) {
        r.sse(good_sse(rng))
    } else {
        r.json(good_json())
    }
}

pub(crate) fn error_json(code: &str) -> String {
    format!(
        r#"{{"error":{{"message":"nope","type":"server_error","param":null,"code":"{code}"}}}}"#
    )
}

/// `n` bytes of ordinary text (words, spaces, a little punctuation).
fn prose(n: usize) -> String {
    const WORDS: &str = "lorem ipsum dolor sit amet, consectetur adipiscing elit. ";
    WORDS.chars().cycle().take(n).collect()
}

const TEN_MB: usize = 10 << 20;

pub(crate) type Family = fn(&mut Rng) -> Wire;

/// Families of event streams are sent to the stream paths only; the others
/// to every path.
const FAMILIES: &[(&str, Family, &[Path])] = &[
    ("status", http::status, &PATHS),
    ("status_line", http::status_line, &PATHS),
    ("huge_headers", http::huge_headers, &PATHS),
    ("non_ascii_headers", http::non_ascii_headers, &PATHS),
    ("retry_after", http::retry_after, &PATHS),
    ("content_length", http::content_length, &PATHS),
    ("chunked", http::chunked, &PATHS),
    ("content_encoding", http::content_encoding, &PATHS),
    ("content_type", http::content_type, &PATHS),
    ("truncated_json", bodies::truncated_json, &PATHS),
    ("invalid_utf8", bodies::invalid_utf8, &PATHS),
    ("deep_nesting", bodies::deep_nesting, &PATHS),
    ("big_json_body", bodies::big_json_body, &PATHS),
    ("trickle", bodies::trickle, &PATHS),
    ("big_error_body", bodies::big_error_body, &PATHS),
    ("big_sse_event", streams::big_sse_event, &STREAMS),
    ("many_choices", streams::many_choices, &STREAMS),
    ("many_tool_calls", streams::many_tool_calls, &STREAMS),
    ("big_tool_arguments", streams::big_tool_arguments, &STREAMS),
    ("done_positions", streams::done_positions, &STREAMS),
    ("split_lines", streams::split_lines, &STREAMS),
    ("errors_in_stream", streams::errors_in_stream, &STREAMS),
    ("odd_numbers", streams::odd_numbers, &STREAMS),
    ("sse_noise", streams::sse_noise, &STREAMS),
    ("many_events", streams::many_events, &STREAMS),
];

/// Every (family, path) pair once: case `k` is pair `k % len`.
pub(crate) fn pairs() -> Vec<(&'static str, Family, Path)> {
    let mut pairs = Vec::new();
    let widest = PATHS.len();
    for round in 0..widest {
        for &(name, family, paths) in FAMILIES {
            if let Some(&path) = paths.get(round) {
                pairs.push((name, family, path));
            }
        }
    }
    pairs
}
