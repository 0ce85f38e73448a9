//! Scan throughput of the streaming guardrails.
//!
//! `Keywords` (1,000 terms, masking), `Pii` (every entity, masking) and
//! `SecretKeys` (balanced, masking) run as chunk hooks, one after the other
//! as a hooked stream runs them, over 1 MB of English-like text with a few
//! non-ASCII words, streamed in 16-byte and in 1 KB chunks. `baseline/*`
//! makes and collects the same chunks with no hook: the hooks' own cost is
//! the difference.
//!
//! Run: `cargo bench -p openai-hooks --bench guardrails`

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use openai_hooks::guardrails::{KeywordAction, Keywords, Pii, SecretAction, SecretKeys};
use openai_hooks::types::{ChunkChoice, Delta};
use openai_hooks::{ChatChunk, HookContext, OnChunk};

/// A small deterministic generator, so every run scans the same text.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "you",
    "that",
    "it",
    "he",
    "was",
    "for",
    "on",
    "are",
    "as",
    "with",
    "his",
    "they",
    "at",
    "be",
    "this",
    "have",
    "from",
    "or",
    "one",
    "had",
    "by",
    "word",
    "but",
    "not",
    "what",
    "all",
    "were",
    "we",
    "when",
    "your",
    "can",
    "said",
    "there",
    "use",
    "an",
    "each",
    "which",
    "she",
    "do",
    "how",
    "their",
    "if",
    "will",
    "up",
    "other",
    "about",
    "out",
    "many",
    "then",
    "them",
    "these",
    "so",
    "some",
    "her",
    "would",
    "make",
    "like",
    "him",
    "into",
    "time",
    "has",
    "look",
    "two",
    "more",
    "write",
    "go",
    "see",
    "number",
    "no",
    "way",
    "could",
    "people",
    "my",
    "than",
    "first",
    "water",
    "been",
    "call",
    "who",
    "oil",
    "its",
    "now",
    "find",
    "long",
    "down",
    "day",
    "did",
    "get",
    "come",
    "made",
    "may",
    "part",
    "model",
    "request",
    "response",
    "stream",
    "server",
    "client",
    "token",
    "latency",
    "configuration",
    "café",
    "naïve",
    "über",
    "2024",
    "42",
    "3.14",
    "e.g.",
    "(see",
    "below)",
    "—",
    "\n\n",
    "**",
];

fn text(len: usize) -> String {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut out = String::with_capacity(len + 64);
    while out.len() < len {
        out.push_str(WORDS[rng.below(WORDS.len())]);
        out.push(if rng.below(12) == 0 { ',' } else { ' ' });
    }
    out
}

/// 1,000 made-up terms of 5 to 12 letters, some two words long.
fn terms() -> Vec<String> {
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    (0..1000)
        .map(|i| {
            let len = 5 + rng.below(8);
            let mut t: String = (0..len)
                .map(|_| char::from(b'a' + rng.below(26) as u8))
                .collect();
            if i % 10 == 0 {
                t.push_str(" corp");
            }
            t
        })
        .collect()
}

/// `text` cut into pieces of `size` bytes (on character boundaries).
fn pieces(text: &str, size: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + size).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        out.push(&text[start..end]);
        start = end;
    }
    out
}

/// A chunk as a deserializer would hand it over.
fn chunk(piece: &str) -> ChatChunk {
    ChatChunk {
        id: "chatcmpl-bench".into(),
        model: "m".into(),
        choices: vec![ChunkChoice {
            delta: Delta {
                content: Some(piece.to_owned()),
                ..Delta::default()
            },
            ..ChunkChoice::default()
        }],
        ..ChatChunk::default()
    }
}

struct Hooks {
    /// 1,000 terms (or 20 in the `competitors` runs).
    keywords: Keywords,
    pii: Pii,
    secrets: SecretKeys,
}

/// Which hooks run.
#[derive(Clone, Copy)]
enum Run {
    /// None: the cost of making and collecting the chunks.
    Baseline,
    All,
    Pii,
    Keywords,
    Secrets,
}

/// Streams `pieces` as chunks through the hooks, in order, as the hooked
/// stream runs them; returns what reached the caller (dropped by criterion
/// outside the measurement). Chunks are made as they are needed, so each is
/// fresh in cache when the hooks see it, as one just parsed would be.
fn run(h: &Hooks, pieces: &[&str], which: Run) -> Vec<ChatChunk> {
    let cx = HookContext::new("m");
    let mut ks = <Keywords as OnChunk>::State::default();
    let mut ps = <Pii as OnChunk>::State::default();
    let mut ss = <SecretKeys as OnChunk>::State::default();
    let mut out = Vec::with_capacity(pieces.len() + 3);
    for piece in pieces {
        let mut c = chunk(piece);
        if matches!(which, Run::All | Run::Keywords) {
            h.keywords.on_chunk(&mut c, &mut ks, &cx).unwrap();
        }
        if matches!(which, Run::All | Run::Pii) {
            h.pii.on_chunk(&mut c, &mut ps, &cx).unwrap();
        }
        if matches!(which, Run::All | Run::Secrets) {
            h.secrets.on_chunk(&mut c, &mut ss, &cx).unwrap();
        }
        out.push(c);
    }
    if !matches!(which, Run::Baseline) {
        out.extend(
            [
                h.keywords.on_end(&mut ks, &cx).unwrap(),
                h.pii.on_end(&mut ps, &cx).unwrap(),
                h.secrets.on_end(&mut ss, &cx).unwrap(),
            ]
            .into_iter()
            .flatten(),
        );
    }
    out
}

fn bench(c: &mut Criterion) {
    let hooks = Hooks {
        keywords: Keywords::new(terms()).unwrap().action(KeywordAction::Mask),
        pii: Pii::new(),
        secrets: SecretKeys::new().action(SecretAction::Mask),
    };
    let text = text(1 << 20);
    // The hooks must pass this text through unchanged (nothing in it
    // matches), or the benchmark measures something else.
    let through: String = run(&hooks, &pieces(&text, 1024), Run::All)
        .iter()
        .filter_map(|c| c.content())
        .collect();
    assert_eq!(through, text);
    let mut group = c.benchmark_group("guardrail_scan");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(20);
    let cases = [
        ("baseline/16B", 16, Run::Baseline),
        ("keywords+pii+secrets/16B", 16, Run::All),
        ("baseline/1KB", 1024, Run::Baseline),
        ("keywords+pii+secrets/1KB", 1024, Run::All),
        ("pii/1KB", 1024, Run::Pii),
        ("keywords/1KB", 1024, Run::Keywords),
        ("secrets/1KB", 1024, Run::Secrets),
    ];
    for (name, size, which) in cases {
        let ps = pieces(&text, size);
        group.bench_function(name, |b| {
            b.iter_batched(
                || (),
                |()| black_box(run(&hooks, &ps, which)),
                BatchSize::PerIteration,
            );
        });
    }
    // A typical list: twenty competitor names.
    let rivals = Hooks {
        keywords: Keywords::competitors([
            "Acme",
            "Globex",
            "Initech",
            "Umbrella",
            "Hooli",
            "Vandelay Industries",
            "Stark",
            "Wayne Enterprises",
            "Cyberdyne",
            "Soylent",
            "Tyrell",
            "Wonka",
            "Gringotts",
            "Oscorp",
            "Massive Dynamic",
            "Aperture",
            "Black Mesa",
            "Pied Piper",
            "Dunder Mifflin",
            "Prestige Worldwide",
        ])
        .unwrap()
        .action(KeywordAction::Mask),
        pii: Pii::new(),
        secrets: SecretKeys::new().action(SecretAction::Mask),
    };
    let ps = pieces(&text, 1024);
    group.bench_function("competitors20+pii+secrets/1KB", |b| {
        b.iter_batched(
            || (),
            |()| black_box(run(&rivals, &ps, Run::All)),
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
