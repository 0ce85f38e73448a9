//! What each event of a Responses stream carries, and where it goes: its
//! deltas to their channels, its whole copies replaced or scanned, and
//! every field its type does not use scanned whole.

use serde_json::Value;

use super::EventState;
use super::text::{Kind, Used, part_index, strings, whole};
use crate::guardrails::scan::engine::{Detector, Scanner};
use crate::guardrails::scan::hooks::{Stop, extra_texts};
use crate::types::responses::ResponseEvent;

impl<C: Send> EventState<C> {
    pub(super) fn scan_event<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        event: &mut ResponseEvent,
    ) -> Result<(), Stop> {
        event.extra.remove("logprobs");
        let kind = event.kind.clone();
        let output = event.output_index.unwrap_or(0);
        let part = event.summary_index.or(event.content_index).unwrap_or(0);
        if let Some((k, _)) = Kind::of_event(&kind) {
            let part = part_index(event, k);
            if kind.ends_with(".delta") {
                self.delta(sc, (output, part, k), event)?;
                return self.rest(sc, event, Used::DELTA, "");
            }
            if kind.ends_with(".done") {
                self.done(sc, (output, part, k), event)?;
                return match k {
                    Kind::Refusal => self.rest(sc, event, Used::REFUSAL, ""),
                    Kind::Arguments => self.rest(sc, event, Used::ARGUMENTS, ""),
                    Kind::CustomInput => self.rest(sc, event, Used::NONE, "input"),
                    _ => self.rest(sc, event, Used::TEXT, ""),
                };
            }
        }
        let (used, skip) = match kind.as_str() {
            "response.content_part.added"
            | "response.content_part.done"
            | "response.reasoning_summary_part.added"
            | "response.reasoning_summary_part.done" => {
                let summary = kind.contains("summary");
                let item_id = event.item_id.clone();
                if let Some(p) = event.part.as_ref() {
                    let k = Kind::of_part(p, summary);
                    let key = (output, part_index(event, k), k);
                    let Some(p) = event.part.as_mut() else {
                        unreachable!("read above");
                    };
                    if kind.ends_with(".done") {
                        self.end_key(sc, key)?;
                    } else {
                        self.begin_part(sc, key, p, item_id.as_ref())?;
                    }
                    self.whole_part(sc, key, p)?;
                }
                (Used::PART, "")
            }
            "response.output_item.added" | "response.output_item.done" => {
                if let Some(item) = event.item.as_mut() {
                    if kind.ends_with(".done") {
                        self.end_item(sc, output)?;
                    } else {
                        self.begin_item(sc, output, item)?;
                    }
                    self.whole_item(sc, output, item)?;
                }
                (Used::ITEM, "")
            }
            "response.created"
            | "response.in_progress"
            | "response.completed"
            | "response.incomplete"
            | "response.failed"
            | "response.queued" => {
                if matches!(
                    kind.as_str(),
                    "response.completed" | "response.incomplete" | "response.failed"
                ) {
                    self.end_all(sc)?;
                } else if let Some(r) = event.response.as_mut() {
                    // A snapshot of a response under way: its texts are
                    // what deltas will append to.
                    for (i, item) in r.output.iter_mut().enumerate() {
                        self.begin_item(sc, i as u32, item)?;
                    }
                }
                if let Some(r) = event.response.as_mut() {
                    self.whole_response(sc, r)?;
                }
                (Used::RESPONSE, "")
            }
            "response.output_text.annotation.added" => {
                if let Some(note) = event.extra.get_mut("annotation") {
                    strings(sc, note, &mut self.tally)?;
                }
                (Used::NONE, "annotation")
            }
            "error" | "keepalive" => {
                if let Some(m) = event.message.as_mut() {
                    whole(sc, m, false, &mut self.tally)?;
                }
                if let Some(e) = event.extra.get_mut("error") {
                    strings(sc, e, &mut self.tally)?;
                }
                (Used::MESSAGE, "error")
            }
            // An event this crate does not know: a `*.delta` with text
            // streams as a text of its own (held back as a match could
            // still complete; its `*.done` ends it); every other string in
            // it is scanned whole.
            _ => {
                if let Some(stem) = kind.strip_suffix(".delta")
                    && stem.ends_with("audio")
                    && event
                        .delta
                        .as_ref()
                        .and_then(Value::as_str)
                        .is_some_and(|d| {
                            d.bytes().all(|b| {
                                b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
                            })
                        })
                {
                    // Audio (`response.audio.delta`): base64, not text,
                    // as a chat reply's `audio.data` is not (anything else
                    // in the delta is scanned whole below).
                    let d = event.delta.take();
                    let outcome = self.unknown(sc, event, output, part);
                    event.delta = d;
                    return outcome;
                }
                if let Some(stem) = kind.strip_suffix(".delta")
                    && matches!(event.delta, Some(Value::String(_)))
                {
                    let k = self.other(stem);
                    self.delta(sc, (output, part_index(event, k), k), event)?;
                    let d = event.delta.take();
                    let outcome = self.unknown(sc, event, output, part);
                    event.delta = d;
                    return outcome;
                }
                if let Some(stem) = kind.strip_suffix(".done")
                    && let Some(id) = self.stems.iter().position(|s| s == stem)
                {
                    let k = Kind::Other(id as u16);
                    self.end_key(sc, (output, part_index(event, k), k))?;
                }
                return self.unknown(sc, event, output, part);
            }
        };
        self.rest(sc, event, used, skip)
    }

    /// The [`Kind`] of the text a `*.delta` event type this crate does not
    /// name streams.
    pub(super) fn other(&mut self, stem: &str) -> Kind {
        let id = match self.stems.iter().position(|s| s == stem) {
            Some(id) => id,
            None => {
                self.stems.push(stem.to_owned());
                self.stems.len() - 1
            }
        };
        Kind::Other(u16::try_from(id).unwrap_or(u16::MAX))
    }

    /// Every string of an event this crate does not know, scanned whole.
    pub(super) fn unknown<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        event: &mut ResponseEvent,
        output: u32,
        part: u32,
    ) -> Result<(), Stop> {
        self.end_all_if_terminal(sc, event)?;
        for t in [
            event.text.as_mut(),
            event.refusal.as_mut(),
            event.arguments.as_mut(),
            event.message.as_mut(),
            event.code.as_mut(),
            event.param.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            whole(sc, t, false, &mut self.tally)?;
        }
        if let Some(d) = event.delta.as_mut() {
            strings(sc, d, &mut self.tally)?;
        }
        for v in event.extra.values_mut() {
            strings(sc, v, &mut self.tally)?;
        }
        if let Some(item) = event.item.as_mut() {
            self.whole_item(sc, output, item)?;
        }
        if let Some(p) = event.part.as_mut() {
            self.whole_part(sc, (output, part, Kind::of_part(p, false)), p)?;
        }
        if let Some(r) = event.response.as_mut() {
            self.whole_response(sc, r)?;
        }
        Ok(())
    }

    /// The fields of a known event that its type does not use (a `text` on
    /// a delta, a `response` on a part event, a vendor's own field), each
    /// scanned whole; `skip` names a field of `extra` the type did use.
    /// Fields the types do not name are left out with `scan_unknown` off.
    pub(super) fn rest<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        event: &mut ResponseEvent,
        used: Used,
        skip: &str,
    ) -> Result<(), Stop> {
        let output = event.output_index.unwrap_or(0);
        let part = event.summary_index.or(event.content_index).unwrap_or(0);
        for (bit, t) in [
            (Used::TEXT, event.text.as_mut()),
            (Used::REFUSAL, event.refusal.as_mut()),
            (Used::ARGUMENTS, event.arguments.as_mut()),
            (Used::MESSAGE, event.message.as_mut()),
            (Used::NONE, event.code.as_mut()),
            (Used::NONE, event.param.as_mut()),
        ] {
            if let Some(t) = t.filter(|_| !used.has(bit)) {
                whole(sc, t, false, &mut self.tally)?;
            }
        }
        if !used.has(Used::DELTA)
            && let Some(d) = event.delta.as_mut()
        {
            strings(sc, d, &mut self.tally)?;
        }
        if !used.has(Used::ITEM)
            && let Some(item) = event.item.as_mut()
        {
            self.whole_item(sc, output, item)?;
        }
        if !used.has(Used::PART)
            && let Some(p) = event.part.as_mut()
        {
            self.whole_part(sc, (output, part, Kind::of_part(p, false)), p)?;
        }
        if !used.has(Used::RESPONSE)
            && let Some(r) = event.response.as_mut()
        {
            self.whole_response(sc, r)?;
        }
        if sc.scan_unknown && !event.extra.is_empty() {
            let used = match skip {
                "" => None,
                _ => event.extra.remove(skip),
            };
            let tally = &mut self.tally;
            let outcome = extra_texts(&mut event.extra, &mut |t| whole(sc, t, false, tally));
            if let Some(v) = used {
                event.extra.insert(skip.to_owned(), v);
            }
            outcome?;
        }
        Ok(())
    }

    /// An unknown event that still ends the response (one with no type but
    /// an error object): its channels end first.
    pub(super) fn end_all_if_terminal<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        event: &ResponseEvent,
    ) -> Result<(), Stop> {
        if event.is_terminal() {
            self.end_all(sc)?;
        }
        Ok(())
    }
}
