//! Driving a chunk hook by hand: build chunks, feed them, collect what the
//! caller would see.

use openai_hooks::guardrails::{KeywordsState, PiiState, SecretKeysState, UrlFilterState};
use openai_hooks::types::{ChunkChoice, Delta};
use openai_hooks::{
    ChatChunk, ChatStream, ChunkAction, ClientError, FinishReason, HookContext, HookError, OnChunk,
};

/// Which delta field a test streams into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Content,
    Refusal,
    Reasoning,
}

/// A chunk carrying `text` in `field` of choice `index`.
pub(crate) fn chunk(index: u32, field: Field, text: &str, finish: bool) -> ChatChunk {
    let mut delta = Delta::default();
    let t = Some(text.to_owned());
    match field {
        Field::Content => delta.content = t,
        Field::Refusal => delta.refusal = t,
        Field::Reasoning => delta.reasoning_content = t,
    }
    ChatChunk {
        id: "chatcmpl-1".into(),
        object: "chat.completion.chunk".into(),
        model: "m".into(),
        choices: vec![ChunkChoice {
            index,
            delta,
            finish_reason: finish.then_some(FinishReason::Stop),
            ..ChunkChoice::default()
        }],
        ..ChatChunk::default()
    }
}

/// The text of `field` in a delta.
pub(crate) fn text_of(delta: &Delta, field: Field) -> Option<&str> {
    match field {
        Field::Content => delta.content.as_deref(),
        Field::Refusal => delta.refusal.as_deref(),
        Field::Reasoning => delta.reasoning_content.as_deref(),
    }
}

/// Splits `text` at the given cut points (moved to char boundaries).
pub(crate) fn split(text: &str, cuts: &[usize]) -> Vec<String> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|&c| {
            let mut c = c % (text.len() + 1);
            while !text.is_char_boundary(c) {
                c -= 1;
            }
            c
        })
        .collect();
    points.push(0);
    points.push(text.len());
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| text[w[0]..w[1]].to_owned())
        .collect()
}

/// Reads `stream` to its end: the chunks, and the error that ended it.
pub(crate) async fn drain(stream: &mut ChatStream<'_>) -> (Vec<ChatChunk>, Option<ClientError>) {
    let mut chunks = Vec::new();
    while let Some(item) = futures::StreamExt::next(stream).await {
        match item {
            Ok(c) => chunks.push(c),
            Err(e) => return (chunks, Some(e)),
        }
    }
    (chunks, None)
}

/// Feeds `chunks` through `hook` (then `on_end`) as the hooked stream
/// does: the chunks the caller gets, and the error that stopped the stream.
pub(crate) fn drive<H: OnChunk>(
    hook: &H,
    chunks: Vec<ChatChunk>,
) -> (Vec<ChatChunk>, Option<HookError>) {
    let cx = HookContext::new("m");
    let mut state = H::State::default();
    let mut out = Vec::new();
    for mut c in chunks {
        match hook.on_chunk(&mut c, &mut state, &cx) {
            Ok(ChunkAction::Pass) => out.push(c),
            Ok(ChunkAction::Drop) => {}
            Err(e) => return (out, Some(e)),
        }
    }
    match hook.on_end(&mut state, &cx) {
        Ok(Some(c)) => out.push(c),
        Ok(None) => {}
        Err(e) => return (out, Some(e)),
    }
    (out, None)
}

/// What a caller saw of one stream.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// Text of each emitted chunk, per choice index, in order.
    pub(crate) chunks: Vec<(u32, String)>,
    /// Whether a chunk with a finish reason was emitted, per choice, and
    /// whether text for that choice came after it.
    pub(crate) text_after_finish: bool,
    /// How the stream ended.
    pub(crate) error: Option<HookError>,
}

impl Seen {
    /// Everything emitted for choice `index`, concatenated.
    pub(crate) fn text(&self, index: u32) -> String {
        self.chunks
            .iter()
            .filter(|(i, _)| *i == index)
            .map(|(_, t)| t.as_str())
            .collect()
    }
}

/// Feeds `chunks` through `hook` (then `on_end`) as the hooked stream would.
pub(crate) fn run<H: OnChunk>(hook: &H, chunks: Vec<ChatChunk>, field: Field) -> Seen {
    run_watching(hook, chunks, field, |_| {})
}

/// A guardrail's chunk-hook state that tells how much it holds back.
pub(crate) trait Held {
    fn held(&self) -> usize;
}

macro_rules! held {
    ($($state:ty),*) => {$(
        impl Held for $state {
            fn held(&self) -> usize {
                self.held_bytes()
            }
        }
    )*};
}
held!(KeywordsState, PiiState, SecretKeysState, UrlFilterState);

/// As [`stream_text`], and the most bytes the hook held back at once (as
/// its state reports, after each chunk).
pub(crate) fn stream_held<H: OnChunk<State: Held>>(
    hook: &H,
    pieces: &[String],
    field: Field,
    finish: bool,
) -> (Seen, usize) {
    let mut max = 0;
    let seen = run_watching(hook, chunks_of(pieces, field, finish), field, |s| {
        max = max.max(s.held());
    });
    (seen, max)
}

/// As [`run`], calling `watch` with the state after each chunk.
fn run_watching<H: OnChunk>(
    hook: &H,
    chunks: Vec<ChatChunk>,
    field: Field,
    mut watch: impl FnMut(&H::State),
) -> Seen {
    let cx = HookContext::new("m");
    let mut state = H::State::default();
    let mut seen = Seen::default();
    let mut finished: Vec<u32> = Vec::new();
    let mut note = |seen: &mut Seen, c: &ChatChunk| {
        for choice in &c.choices {
            if let Some(t) = text_of(&choice.delta, field) {
                if finished.contains(&choice.index) && !t.is_empty() {
                    seen.text_after_finish = true;
                }
                seen.chunks.push((choice.index, t.to_owned()));
            }
            if choice.finish_reason.is_some() {
                finished.push(choice.index);
            }
        }
    };
    for mut c in chunks {
        let action = hook.on_chunk(&mut c, &mut state, &cx);
        watch(&state);
        match action {
            Ok(ChunkAction::Pass) => note(&mut seen, &c),
            Ok(ChunkAction::Drop) => {}
            Err(e) => {
                seen.error = Some(e);
                return seen;
            }
        }
    }
    match hook.on_end(&mut state, &cx) {
        Ok(Some(c)) => note(&mut seen, &c),
        Ok(None) => {}
        Err(e) => seen.error = Some(e),
    }
    seen
}

/// Streams `text` in `pieces` as choice 0, the last piece carrying a finish
/// reason when `finish`.
pub(crate) fn stream_text<H: OnChunk>(
    hook: &H,
    pieces: &[String],
    field: Field,
    finish: bool,
) -> Seen {
    run(hook, chunks_of(pieces, field, finish), field)
}

/// `pieces` as chunks of choice 0, the last carrying a finish reason when
/// `finish`.
fn chunks_of(pieces: &[String], field: Field, finish: bool) -> Vec<ChatChunk> {
    let n = pieces.len();
    pieces
        .iter()
        .enumerate()
        .map(|(i, p)| chunk(0, field, p, finish && i + 1 == n))
        .collect()
}

/// Unicode's default-ignorable code points (which fold to nothing).
pub(crate) fn default_ignorable(c: char) -> bool {
    matches!(c as u32,
        0xAD | 0x34F | 0x61C | 0x115F..=0x1160 | 0x17B4..=0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF)
}

/// The combining marks the keyword fold drops (generic diacritics): to
/// `Keywords` they fold to nothing, like default-ignorable characters.
pub(crate) fn folded_mark(c: char) -> bool {
    matches!(c as u32,
        0x300..=0x36F | 0x483..=0x489 | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF
        | 0xFE20..=0xFE2F)
}

/// Whether some guardrail folds `c` to nothing (and so may leave it out of
/// a long run it holds).
fn folds_to_nothing(c: char) -> bool {
    default_ignorable(c) || folded_mark(c)
}

/// `s` without the characters that fold to nothing.
pub(crate) fn visible(s: &str) -> String {
    s.chars().filter(|&c| !folds_to_nothing(c)).collect()
}

/// Whether `out` is a prefix of `text` with some characters that fold to
/// nothing left out (and nothing else changed).
pub(crate) fn prefix_less_ignorables(out: &str, text: &str) -> bool {
    let mut rest = text.chars();
    out.chars()
        .all(|c| rest.by_ref().find(|&t| !folds_to_nothing(t) || t == c) == Some(c))
}
