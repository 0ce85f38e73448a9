//! The kinds of text a Responses stream carries, and scanning a text or
//! every string of a value whole.

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
}

impl Kind {
    /// The kind a `*.delta` or `*.done` event's text is.
    pub(super) fn of_event(event: &str) -> Option<Self> {
        let (stem, _) = event.rsplit_once('.')?;
        Some(match stem {
            "response.output_text" => Self::OutputText,
            "response.refusal" => Self::Refusal,
            "response.reasoning_text" => Self::ReasoningText,
            "response.reasoning_summary_text" => Self::Summary,
            "response.function_call_arguments" => Self::Arguments,
            "response.custom_tool_call_input" => Self::CustomInput,
            _ => return None,
        })
    }

    /// The delta event type that carries this kind's text.
    pub(super) fn delta_event(self) -> &'static str {
        match self {
            Self::OutputText => "response.output_text.delta",
            Self::Refusal => "response.refusal.delta",
            Self::ReasoningText => "response.reasoning_text.delta",
            Self::Summary => "response.reasoning_summary_text.delta",
            Self::Arguments => "response.function_call_arguments.delta",
            Self::CustomInput => "response.custom_tool_call_input.delta",
        }
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
