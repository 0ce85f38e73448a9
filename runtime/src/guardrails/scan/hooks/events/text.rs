//! The kinds of text a Responses stream carries, which fields an event's
//! type uses, and scanning a text or every string of a value whole.

use serde_json::Value;

use crate::guardrails::scan::engine::{Detector, Scanner, Tally};
use crate::guardrails::scan::hooks::Stop;
use crate::types::responses::{OutputContent, ResponseEvent};

/// What kind of text a channel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    OutputText,
    Refusal,
    ReasoningText,
    Summary,
    Arguments,
    CustomInput,
    /// The text of a `*.delta` event type this crate does not name (an
    /// audio transcript, a code interpreter's code, MCP call arguments): the
    /// stem's place in [`EventState::stems`].
    Other(u16),
}

impl Kind {
    /// The kind a `*.delta` or `*.done` event's text is, and the delta
    /// event type that carries it.
    pub(super) fn of_event(event: &str) -> Option<(Self, &'static str)> {
        let (stem, _) = event.rsplit_once('.')?;
        Some(match stem {
            "response.output_text" => (Self::OutputText, "response.output_text.delta"),
            "response.refusal" => (Self::Refusal, "response.refusal.delta"),
            "response.reasoning_text" => (Self::ReasoningText, "response.reasoning_text.delta"),
            "response.reasoning_summary_text" => {
                (Self::Summary, "response.reasoning_summary_text.delta")
            }
            "response.function_call_arguments" => {
                (Self::Arguments, "response.function_call_arguments.delta")
            }
            "response.custom_tool_call_input" => {
                (Self::CustomInput, "response.custom_tool_call_input.delta")
            }
            _ => return None,
        })
    }

    /// The kind of a content part, by its `type`.
    pub(super) fn of_part(part: &OutputContent, summary: bool) -> Self {
        match part.kind.as_str() {
            _ if summary => Self::Summary,
            "refusal" => Self::Refusal,
            "reasoning_text" => Self::ReasoningText,
            _ => Self::OutputText,
        }
    }

    pub(super) fn is_json(self) -> bool {
        self == Self::Arguments
    }
}

/// Which named fields of an event its type uses (the others are scanned
/// whole by [`EventState::rest`]).
#[derive(Clone, Copy)]
pub(super) struct Used(u8);

impl Used {
    pub(super) const NONE: Self = Self(0);
    pub(super) const TEXT: Self = Self(1);
    pub(super) const REFUSAL: Self = Self(2);
    pub(super) const ARGUMENTS: Self = Self(4);
    pub(super) const MESSAGE: Self = Self(8);
    pub(super) const DELTA: Self = Self(16);
    pub(super) const ITEM: Self = Self(32);
    pub(super) const PART: Self = Self(64);
    pub(super) const RESPONSE: Self = Self(128);

    pub(super) fn has(self, bit: Self) -> bool {
        bit.0 != 0 && self.0 & bit.0 != 0
    }
}

/// Which part of its item an event's text of kind `k` is in: a summary
/// part by `summary_index`, any other part by `content_index` (a stray
/// index of the other kind is ignored, as a caller placing the text
/// ignores it; a missing one is 0, as a lenient caller reads it), and 0 for
/// a call, which has no parts.
pub(super) fn part_index(event: &ResponseEvent, k: Kind) -> u32 {
    match k {
        Kind::Summary => event.summary_index,
        Kind::Arguments | Kind::CustomInput => None,
        _ => event.content_index,
    }
    .unwrap_or(0)
}

/// The field of a `*.done` event that repeats the text whole.
pub(super) fn field_of(event: &mut ResponseEvent, kind: Kind) -> Option<&mut String> {
    match kind {
        Kind::Refusal => event.refusal.as_mut(),
        Kind::Arguments => event.arguments.as_mut(),
        Kind::CustomInput => match event.extra.get_mut("input") {
            Some(Value::String(s)) => Some(s),
            _ => None,
        },
        _ => event.text.as_mut(),
    }
}

/// Scans one text whole, in place.
pub(super) fn whole<D: Detector>(
    sc: &Scanner<D>,
    text: &mut String,
    json: bool,
    tally: &mut Tally,
) -> Result<(), Stop> {
    if let Some(new) = sc.apply_as(text, json, tally)? {
        *text = new;
    }
    Ok(())
}

/// Scans every string in a JSON value whole, in place.
pub(super) fn strings<D: Detector>(
    sc: &Scanner<D>,
    v: &mut Value,
    tally: &mut Tally,
) -> Result<(), Stop> {
    match v {
        Value::String(s) => whole(sc, s, false, tally),
        Value::Array(a) => a.iter_mut().try_for_each(|v| strings(sc, v, tally)),
        Value::Object(o) => o.values_mut().try_for_each(|v| strings(sc, v, tally)),
        _ => Ok(()),
    }
}
