//! The text a reply carries: one definition of every channel a caller or an
//! agent reads, used by every guardrail (chunk hooks, post-response hooks,
//! the pipeline's whole-text judges).
//!
//! | channel | streamed as | in a whole reply |
//! |---|---|---|
//! | `content`, `refusal` | fragments, one stream per choice | text |
//! | `reasoning_content`, `reasoning` | fragments, one stream per choice | text |
//! | `tool_calls[].function.arguments` | fragments, one stream per call `index` | text (JSON) |
//! | `function_call.arguments` (legacy) | fragments, one stream per choice | text (JSON) |
//! | `audio.transcript` | fragments, one stream per choice | text |
//! | `tool_calls[].function.name`, `function_call.name`, `role`, a `finish_reason` this crate does not know | each value whole in its chunk, read joined to earlier values at the same place | text |
//! | any other string in the message's, delta's or choice's unknown fields (`annotations[].url_citation.url` and `.title`, provider extras) | each value whole in its chunk, read joined to earlier values at the same place | text |
//!
//! Not text: ids (`id`, `tool_call_id`), `type` and `object` tags,
//! `audio.data` (base64 audio), base64 `data:` URLs in unknown fields
//! (images some providers add), numbers and booleans. Fields at the top of a
//! chunk or reply outside `choices` (`usage`, `system_fingerprint`, provider
//! metadata such as `x_groq`) are the server's, not the model's, and are not
//! scanned.

use serde_json::Value;

use crate::client::ClientError;
use crate::limits::MAX_TOOL_CALLS;

use crate::types::{
    Choice, ChunkChoice, Delta, Extra, FinishReason, FunctionDelta, ToolCall, ToolCallDelta,
};

/// A text channel whose fragments stream across chunks and are scanned as
/// one text (each its own stream, held back on its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    Content,
    Refusal,
    ReasoningContent,
    Reasoning,
    /// `tool_calls[].function.arguments` of the call with this `index`.
    ToolArguments(u32),
    /// Legacy `function_call.arguments`.
    FunctionArguments,
    /// `audio.transcript`.
    AudioTranscript,
    /// A value that comes whole in its chunk (a name, a string in an
    /// unknown field, a role), by a hash of where it sits: values at the
    /// same place in later chunks are read joined to it, as a client that
    /// gathers a stream joins them.
    Value(u64),
}

/// Where a value sits, hashed: `at` one step (a key, or an index's bytes)
/// below `h` (FNV-1a).
pub(crate) fn below(h: u64, at: &[u8]) -> u64 {
    let mut h = (h ^ 0xff).wrapping_mul(0x0000_0100_0000_01b3);
    for &b in at {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn below_index(h: u64, i: usize) -> u64 {
    below(h, &(i as u64).to_le_bytes())
}

/// Roots of the places values sit in.
const IN_DELTA: u64 = 0xcbf2_9ce4_8422_2325;
const IN_CHOICE: u64 = 0x8422_2325_cbf2_9ce4;

impl Channel {
    /// Whether the channel carries JSON text (function arguments).
    pub(crate) fn is_json(self) -> bool {
        matches!(self, Self::ToolArguments(_) | Self::FunctionArguments)
    }
}

/// Keys whose string values are not text a reader sees.
const NOT_TEXT: [&str; 4] = ["id", "tool_call_id", "type", "object"];

/// Calls `f` on every string in `v` that is text (see the module docs);
/// `key` is the key `v` sits under, if any, and `h` where.
fn each_value_text<E>(
    h: u64,
    key: Option<&str>,
    v: &mut Value,
    f: &mut impl FnMut(Channel, &mut String) -> Result<(), E>,
) -> Result<(), E> {
    match v {
        Value::String(s) if !key.is_some_and(|k| NOT_TEXT.contains(&k)) && !is_binary(s) => {
            f(Channel::Value(h), s)
        }
        Value::Array(items) => items
            .iter_mut()
            .enumerate()
            .try_for_each(|(i, item)| each_value_text(below_index(h, i), None, item, f)),
        Value::Object(map) => map
            .iter_mut()
            .try_for_each(|(k, item)| each_value_text(below(h, k.as_bytes()), Some(k), item, f)),
        _ => Ok(()),
    }
}

/// Whether `s` is a base64 `data:` URL of an image, audio or video (what
/// some providers add in a field of their own): binary, not text, and no
/// guardrail reads base64. Only the whole value counts: a media type, then
/// `;base64,`, then base64 to the end; anything else (a `text/html`
/// document, words after the payload) is text.
pub(crate) fn is_binary(s: &str) -> bool {
    let Some(rest) = s.get(..5).filter(|p| p.eq_ignore_ascii_case("data:")) else {
        return false;
    };
    let rest = &s[rest.len()..];
    let Some((media, payload)) = rest.split_once(";base64,") else {
        return false;
    };
    let kind = media.split('/').next().unwrap_or_default();
    ["image", "audio", "video"]
        .iter()
        .any(|k| kind.eq_ignore_ascii_case(k))
        && media.len() <= 100
        && !media.contains(|c: char| c.is_whitespace() || c == ',')
        && payload
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
}

/// Calls `f` on every string in unknown fields `extra` that is text: the
/// streamed channels in it (`function_call.arguments`, `audio.transcript`)
/// always, with their channel; names always; `audio.data` never; the
/// others with `scan_unknown`.
fn each_extra_text<E>(
    h: u64,
    extra: &mut Extra,
    scan_unknown: bool,
    f: &mut impl FnMut(Channel, &mut String) -> Result<(), E>,
) -> Result<(), E> {
    if extra.is_empty() {
        return Ok(());
    }
    for (key, v) in extra.iter_mut() {
        let at = below(h, key.as_bytes());
        match (key.as_str(), v) {
            ("function_call", Value::Object(call)) => {
                for (k, item) in call.iter_mut() {
                    let at = below(at, k.as_bytes());
                    match (k.as_str(), item) {
                        ("arguments", Value::String(s)) => f(Channel::FunctionArguments, s)?,
                        ("name", Value::String(s)) => f(Channel::Value(at), s)?,
                        (k, item) if scan_unknown => each_value_text(at, Some(k), item, f)?,
                        _ => {}
                    }
                }
            }
            ("audio", Value::Object(audio)) => {
                for (k, item) in audio.iter_mut() {
                    let at = below(at, k.as_bytes());
                    match (k.as_str(), item) {
                        ("transcript", Value::String(s)) => f(Channel::AudioTranscript, s)?,
                        ("data", _) => {}
                        (k, item) if scan_unknown => each_value_text(at, Some(k), item, f)?,
                        _ => {}
                    }
                }
            }
            (k, item) if scan_unknown => each_value_text(at, Some(k), item, f)?,
            _ => {}
        }
    }
    Ok(())
}

/// Every text of one streamed choice: the streamed channels of its delta
/// (fragments), and the values that come whole (names, the role, a finish
/// reason this crate does not know, and, with `scan_unknown`, strings in
/// unknown fields), each with its [`Channel`].
#[inline]
pub(crate) fn chunk_choice_texts<E>(
    choice: &mut ChunkChoice,
    scan_unknown: bool,
    f: &mut impl FnMut(Channel, &mut String) -> Result<(), E>,
) -> Result<(), E> {
    let d = &mut choice.delta;
    // Most chunks carry a piece of content and nothing else: a few checks
    // instead of the walk, which costs more than scanning a short piece.
    if d.role.is_none()
        && d.refusal.is_none()
        && d.reasoning_content.is_none()
        && d.reasoning.is_none()
        && d.tool_calls.is_none()
        && d.extra.is_empty()
        && choice.extra.is_empty()
        && !matches!(choice.finish_reason, Some(FinishReason::Other(_)))
    {
        return match &mut d.content {
            Some(t) => f(Channel::Content, t),
            None => Ok(()),
        };
    }
    every_chunk_text(choice, scan_unknown, f)
}

/// [`chunk_choice_texts`] for a chunk that carries more than content.
fn every_chunk_text<E>(
    choice: &mut ChunkChoice,
    scan_unknown: bool,
    f: &mut impl FnMut(Channel, &mut String) -> Result<(), E>,
) -> Result<(), E> {
    let d = &mut choice.delta;
    for (ch, t) in [
        (Channel::Content, &mut d.content),
        (Channel::Refusal, &mut d.refusal),
        (Channel::ReasoningContent, &mut d.reasoning_content),
        (Channel::Reasoning, &mut d.reasoning),
        (Channel::Value(below(IN_DELTA, b"role")), &mut d.role),
    ] {
        if let Some(t) = t {
            f(ch, t)?;
        }
    }
    let calls = below(IN_DELTA, b"tool_calls");
    for call in d.tool_calls.iter_mut().flatten() {
        let at = below_index(calls, call.index as usize);
        if let Some(func) = &mut call.function {
            if let Some(args) = &mut func.arguments {
                f(Channel::ToolArguments(call.index), args)?;
            }
            if let Some(name) = &mut func.name {
                f(Channel::Value(below(at, b"name")), name)?;
            }
        }
        if scan_unknown {
            each_extra_text(at, &mut call.extra, true, f)?;
        }
    }
    each_extra_text(IN_DELTA, &mut d.extra, scan_unknown, f)?;
    if let Some(FinishReason::Other(reason)) = &mut choice.finish_reason {
        f(Channel::Value(below(IN_CHOICE, b"finish_reason")), reason)?;
    }
    if scan_unknown {
        each_extra_text(IN_CHOICE, &mut choice.extra, true, f)?;
    }
    Ok(())
}

/// Every text of one choice of a whole reply, each a text of its own, in
/// order: content, refusal, reasoning, the role, tool calls (name, then
/// arguments), then unknown fields (with `scan_unknown`). The channel passed
/// is the one the text would stream in (a tool call's is numbered by its
/// position).
pub(crate) fn reply_choice_texts<E>(
    choice: &mut Choice,
    scan_unknown: bool,
    f: &mut impl FnMut(Channel, &mut String) -> Result<(), E>,
) -> Result<(), E> {
    let m = &mut choice.message;
    for (ch, t) in [
        (Channel::Content, &mut m.content),
        (Channel::Refusal, &mut m.refusal),
        (Channel::ReasoningContent, &mut m.reasoning_content),
        (Channel::Reasoning, &mut m.reasoning),
    ] {
        if let Some(t) = t {
            f(ch, t)?;
        }
    }
    f(Channel::Value(below(IN_DELTA, b"role")), &mut m.role)?;
    let calls = below(IN_DELTA, b"tool_calls");
    for (i, call) in m.tool_calls.iter_mut().flatten().enumerate() {
        let at = below_index(calls, i);
        f(Channel::Value(below(at, b"name")), &mut call.function.name)?;
        let i = u32::try_from(i).unwrap_or(u32::MAX);
        f(Channel::ToolArguments(i), &mut call.function.arguments)?;
        if scan_unknown {
            each_extra_text(at, &mut call.extra, true, f)?;
        }
    }
    each_extra_text(IN_DELTA, &mut m.extra, scan_unknown, f)?;
    if let Some(FinishReason::Other(reason)) = &mut choice.finish_reason {
        f(Channel::Value(below(IN_CHOICE, b"finish_reason")), reason)?;
    }
    if scan_unknown {
        each_extra_text(IN_CHOICE, &mut choice.extra, true, f)?;
    }
    Ok(())
}

/// The text field of streamed channel `ch` in `delta`, created empty where
/// the delta does not have it: where a choice's held-back text goes when it
/// is released. `None` for a value that comes whole (nothing of it is held
/// past its chunk).
pub(crate) fn slot(delta: &mut Delta, ch: Channel) -> Option<&mut String> {
    fn object<'a>(extra: &'a mut Extra, key: &str) -> &'a mut serde_json::Map<String, Value> {
        let v = extra
            .entry(key)
            .or_insert_with(|| Value::Object(Default::default()));
        if !v.is_object() {
            *v = Value::Object(Default::default());
        }
        match v {
            Value::Object(map) => map,
            _ => unreachable!("made an object above"),
        }
    }
    fn string<'a>(map: &'a mut serde_json::Map<String, Value>, key: &str) -> &'a mut String {
        let v = map
            .entry(key)
            .or_insert_with(|| Value::String(String::new()));
        if !v.is_string() {
            *v = Value::String(String::new());
        }
        match v {
            Value::String(s) => s,
            _ => unreachable!("made a string above"),
        }
    }
    Some(match ch {
        Channel::Content => d_field(&mut delta.content),
        Channel::Refusal => d_field(&mut delta.refusal),
        Channel::ReasoningContent => d_field(&mut delta.reasoning_content),
        Channel::Reasoning => d_field(&mut delta.reasoning),
        Channel::ToolArguments(index) => {
            let calls = delta.tool_calls.get_or_insert_with(Vec::new);
            let i = match calls.iter().position(|c| c.index == index) {
                Some(i) => i,
                None => {
                    calls.push(ToolCallDelta {
                        index,
                        ..ToolCallDelta::default()
                    });
                    calls.len() - 1
                }
            };
            let func = calls[i].function.get_or_insert_with(FunctionDelta::default);
            d_field(&mut func.arguments)
        }
        Channel::FunctionArguments => {
            string(object(&mut delta.extra, "function_call"), "arguments")
        }
        Channel::AudioTranscript => string(object(&mut delta.extra, "audio"), "transcript"),
        Channel::Value(_) => return None,
    })
}

fn d_field(f: &mut Option<String>) -> &mut String {
    f.get_or_insert_with(String::new)
}

/// Bytes of the strings `delta` carries (every text, id and unknown field's
/// strings and keys): what gathering it adds, give or take structure.
pub(crate) fn delta_bytes(delta: &Delta) -> usize {
    fn value_bytes(v: &Value) -> usize {
        match v {
            Value::String(s) => s.len(),
            Value::Array(items) => items.iter().map(value_bytes).sum(),
            Value::Object(map) => map.iter().map(|(k, v)| k.len() + value_bytes(v)).sum(),
            _ => 8,
        }
    }
    fn extra_bytes(extra: &Extra) -> usize {
        extra.iter().map(|(k, v)| k.len() + value_bytes(v)).sum()
    }
    let len = |t: &Option<String>| t.as_ref().map_or(0, String::len);
    let mut n = len(&delta.content)
        + len(&delta.refusal)
        + len(&delta.reasoning_content)
        + len(&delta.reasoning)
        + len(&delta.role)
        + extra_bytes(&delta.extra);
    for call in delta.tool_calls.iter().flatten() {
        n += len(&call.id) + extra_bytes(&call.extra);
        if let Some(func) = &call.function {
            n += len(&func.name) + len(&func.arguments);
        }
    }
    n
}

/// A choice of a whole reply, gathered from a stream's deltas: every
/// streamed channel's fragments and each tool call's name appended, tool
/// calls by `index` (at most [`MAX_TOOL_CALLS`](crate::limits::MAX_TOOL_CALLS)),
/// other unknown fields kept (a later value replaces an earlier one).
#[derive(Debug, Default)]
pub(crate) struct Gathered {
    pub(crate) choice: Choice,
    /// The `index` of each of `choice.message.tool_calls`, in order.
    calls: Vec<u32>,
}

impl Gathered {
    pub(crate) fn new(index: u32) -> Self {
        Self {
            choice: Choice {
                index,
                ..Choice::default()
            },
            calls: Vec::new(),
        }
    }

    /// Adds what `delta` carries; an error, with nothing of the delta's
    /// tool calls added, if it brings more than
    /// [`MAX_TOOL_CALLS`](crate::limits::MAX_TOOL_CALLS) tool-call indices.
    pub(crate) fn add(&mut self, delta: &Delta) -> Result<(), ClientError> {
        let calls = delta.tool_calls.iter().flatten();
        let mut new: Vec<u32> = calls
            .map(|c| c.index)
            .filter(|i| !self.calls.contains(i))
            .collect();
        if self.calls.len() + new.len() > MAX_TOOL_CALLS {
            new.sort_unstable();
            new.dedup();
            if self.calls.len() + new.len() > MAX_TOOL_CALLS {
                return Err(ClientError::LimitExceeded {
                    what: "tool calls per choice",
                    limit: MAX_TOOL_CALLS as u64,
                });
            }
        }
        let message = &mut self.choice.message;
        for (to, from) in [
            (&mut message.content, &delta.content),
            (&mut message.refusal, &delta.refusal),
            (&mut message.reasoning_content, &delta.reasoning_content),
            (&mut message.reasoning, &delta.reasoning),
        ] {
            if let Some(t) = from {
                to.get_or_insert_with(String::new).push_str(t);
            }
        }
        for call in delta.tool_calls.iter().flatten() {
            let calls = message.tool_calls.get_or_insert_with(Vec::new);
            let p = match self.calls.iter().position(|&i| i == call.index) {
                Some(p) => p,
                None => {
                    self.calls.push(call.index);
                    calls.push(ToolCall::default());
                    calls.len() - 1
                }
            };
            let to = &mut calls[p];
            if let Some(id) = call.id.as_deref().filter(|id| !id.is_empty()) {
                to.id = id.to_owned();
            }
            if let Some(func) = &call.function {
                if let Some(name) = &func.name {
                    to.function.name.push_str(name);
                }
                if let Some(args) = &func.arguments {
                    to.function.arguments.push_str(args);
                }
            }
            to.extra
                .extend(call.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        for (key, v) in &delta.extra {
            if let (Value::Object(from), Some(Value::Object(to))) = (v, message.extra.get_mut(key))
            {
                for (k, item) in from {
                    // Streamed channels inside unknown fields are appended.
                    let streamed = matches!(
                        (key.as_str(), k.as_str()),
                        ("function_call", "arguments") | ("audio", "transcript")
                    );
                    match (item, to.get_mut(k)) {
                        (Value::String(s), Some(Value::String(t))) if streamed => t.push_str(s),
                        _ => {
                            to.insert(k.clone(), item.clone());
                        }
                    }
                }
            } else {
                message.extra.insert(key.clone(), v.clone());
            }
        }
        Ok(())
    }
}
