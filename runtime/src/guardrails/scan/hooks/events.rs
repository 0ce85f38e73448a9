//! The per-stream state of a scanning guardrail on a Responses event
//! stream.
//!
//! Each text the stream builds is a channel: an output item's
//! `output_text`, `refusal` or `reasoning_text` part, a reasoning summary
//! part, a function call's arguments (JSON) or a custom tool call's input
//! (one text per call, whatever `content_index` its deltas name), and the
//! text of any `*.delta` event type this crate does not name (an audio
//! transcript, a code interpreter's code, MCP call arguments), which its
//! `*.done` ends.
//! Its deltas go through a text stream that holds back what could still
//! complete a match, as on Chat Completions. What a channel still holds
//! when it ends (its `.done` event, the item's or part's `.done`, the
//! terminal event, or the end of the upstream) is released as a delta
//! event of its own, emitted just before the event that ended it (see
//! [`OnChunk::release`](crate::OnChunk::release)).
//!
//! A text a `content_part.added`, an `output_item.added` or the snapshot
//! of `response.created` (`.in_progress`, `.queued`) already carries
//! begins its channel (an accumulating caller appends the deltas to it), so
//! it is held back as a first delta would be.
//!
//! Events that repeat a text whole (`*.done`, `content_part.done`,
//! `output_item.done`, the terminal `response`) get the text that was
//! emitted for it, never the server's own copy; a text that never streamed
//! (a server that sends an item whole) is scanned whole there. Citations,
//! error messages, tool names, every string of an event type this crate
//! does not know, and the fields a known event's type does not use (a
//! `text` on a delta, an `item` on a part event) are scanned whole; so,
//! unless `scan_unknown_fields(false)`, are strings in fields the types do
//! not name (a vendor's `transcript`, an `output_audio` part, a built-in
//! tool call's `action`, a server's own `output_text` on the response),
//! ids, type tags, opaque payloads and what the response echoes of the
//! request (`instructions`, `tools`, ...) aside. `logprobs`, which spell the
//! text token by token, are removed.

use std::collections::VecDeque;

use serde_json::Value;

use super::{Stop, limit_info, limit_trip, result, trip};
use crate::guardrails::result::record_shared;
use crate::guardrails::scan::engine::{Detector, FieldStream, Scanner, Tail, Tally};
use crate::guardrails::scan::hooks::{ScanGuard, extra_texts, response_texts};
use crate::hooks::{ChunkAction, HookContext, HookError, Stage};
use crate::limits::{MAX_GATHERED_BYTES, MAX_HELD_BYTES, MAX_TEXT_CHANNELS};
use crate::types::responses::{OutputContent, OutputItem, Response, ResponseEvent};

/// What kind of text a channel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
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
    fn of_event(event: &str) -> Option<(Self, &'static str)> {
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
    fn of_part(part: &OutputContent, summary: bool) -> Self {
        match part.kind.as_str() {
            _ if summary => Self::Summary,
            "refusal" => Self::Refusal,
            "reasoning_text" => Self::ReasoningText,
            _ => Self::OutputText,
        }
    }

    fn is_json(self) -> bool {
        self == Self::Arguments
    }
}

/// Which text: the output item, the part in it (0 for a call), the kind.
type Key = (u32, u32, Kind);

/// One text of the stream.
struct Channel<C> {
    key: Key,
    /// `Ok` while text goes on; `Err` once ended, with what it held at its
    /// end, scanned again in front of any text that still comes.
    stream: Result<Box<FieldStream<C>>, Tail>,
    /// Everything emitted for it so far: what events that repeat the text
    /// whole are given.
    emitted: String,
    /// The item's id, from its deltas, for the release events.
    item_id: Option<String>,
}

/// Per-stream state of a scanning guardrail as a Responses event hook.
pub(crate) struct EventState<C> {
    channels: Vec<Channel<C>>,
    /// Original bytes held back now, over every channel.
    held: usize,
    /// Bytes of `emitted`, over every channel.
    kept: usize,
    /// Delta events releasing what ended channels held, to emit next.
    pending: VecDeque<ResponseEvent>,
    /// The stems (`response.audio.transcript`) of the `*.delta` event types
    /// this crate does not name that streamed text, by [`Kind::Other`].
    stems: Vec<String>,
    tally: Tally,
    reported: bool,
}

impl<C> Default for EventState<C> {
    fn default() -> Self {
        Self {
            channels: Vec::new(),
            held: 0,
            kept: 0,
            pending: VecDeque::new(),
            stems: Vec::new(),
            tally: Tally::default(),
            reported: false,
        }
    }
}

impl<C: Send> EventState<C> {
    /// Bytes of streamed text held back now.
    pub(crate) fn held_bytes(&self) -> usize {
        self.held
    }

    /// The next release to emit.
    pub(crate) fn release(&mut self) -> Option<ResponseEvent> {
        self.pending.pop_front()
    }

    pub(crate) fn on_event<G: ScanGuard<Det: Detector<Cursor = C>>>(
        &mut self,
        g: &G,
        event: &mut ResponseEvent,
        cx: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        let outcome = self.scan_event(g.scanner(), event);
        self.settle(g, cx, outcome).map(|()| ChunkAction::Pass)
    }

    /// Releases what every channel still holds, judged as the end of its
    /// text.
    pub(crate) fn on_end<G: ScanGuard<Det: Detector<Cursor = C>>>(
        &mut self,
        g: &G,
        cx: &HookContext,
    ) -> Result<(), HookError> {
        let sc = g.scanner();
        let mut outcome = Ok(());
        for i in 0..self.channels.len() {
            outcome = self.end_channel(sc, i);
            if outcome.is_err() {
                break;
            }
        }
        self.settle(g, cx, outcome)?;
        self.report(g, cx, false, None);
        Ok(())
    }

    fn settle<G: ScanGuard>(
        &mut self,
        g: &G,
        cx: &HookContext,
        outcome: Result<(), Stop>,
    ) -> Result<(), HookError> {
        match outcome {
            Ok(()) => Ok(()),
            Err(Stop::Blocked) => {
                self.pending.clear();
                self.report(g, cx, true, None);
                Err(trip(g, &self.tally))
            }
            Err(Stop::Limit { what, limit }) => {
                self.pending.clear();
                self.report(g, cx, true, Some(limit_info(what, limit)));
                Err(limit_trip(g, &self.tally, what, limit))
            }
        }
    }

    fn report<G: ScanGuard>(
        &mut self,
        g: &G,
        cx: &HookContext,
        tripped: bool,
        limit: Option<Value>,
    ) {
        if !self.reported {
            self.reported = true;
            let mut r = result(g, Stage::Chunk, tripped, &self.tally);
            if let Some(limit) = limit {
                r.info["limit"] = limit;
            }
            record_shared(cx, r);
        }
    }

    fn scan_event<D: Detector<Cursor = C>>(
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
    fn other(&mut self, stem: &str) -> Kind {
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
    fn unknown<D: Detector<Cursor = C>>(
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
    fn rest<D: Detector<Cursor = C>>(
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
    fn end_all_if_terminal<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        event: &ResponseEvent,
    ) -> Result<(), Stop> {
        if event.is_terminal() {
            self.end_all(sc)?;
        }
        Ok(())
    }

    /// Where channel `key` is, made (open) if new.
    fn channel<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        key: Key,
    ) -> Result<usize, Stop> {
        if let Some(i) = self.channels.iter().rposition(|c| c.key == key) {
            return Ok(i);
        }
        if self.channels.len() == MAX_TEXT_CHANNELS {
            return Err(Stop::Limit {
                what: "text channels per stream",
                limit: MAX_TEXT_CHANNELS,
            });
        }
        let stream = match key.2.is_json() {
            true => FieldStream::new_json(&*sc.det),
            false => FieldStream::new(&*sc.det),
        };
        self.channels.push(Channel {
            key,
            stream: Ok(Box::new(stream)),
            emitted: String::new(),
            item_id: None,
        });
        Ok(self.channels.len() - 1)
    }

    fn keep(&mut self, i: usize, text: &str) -> Result<(), Stop> {
        self.kept += text.len();
        if self.kept > MAX_GATHERED_BYTES {
            return Err(Stop::Limit {
                what: "text bytes kept per stream",
                limit: MAX_GATHERED_BYTES,
            });
        }
        self.channels[i].emitted.push_str(text);
        Ok(())
    }

    fn delta<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        key: Key,
        event: &mut ResponseEvent,
    ) -> Result<(), Stop> {
        let Some(Value::String(text)) = event.delta.as_mut() else {
            // Not text: every string in it, whole.
            if let Some(d) = event.delta.as_mut() {
                strings(sc, d, &mut self.tally)?;
            }
            return Ok(());
        };
        self.push(sc, key, text, event.item_id.as_ref())
    }

    /// Streams `text` on as the next piece of channel `key` (opened if
    /// new), leaving in it what can be emitted now.
    fn push<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        key: Key,
        text: &mut String,
        item_id: Option<&String>,
    ) -> Result<(), Stop> {
        let i = self.channel(sc, key)?;
        let channel = &mut self.channels[i];
        if channel.item_id.is_none() {
            channel.item_id = item_id.cloned();
        }
        if let Err(tail) = &channel.stream {
            // Text after the channel ended: its tail is scanned again in
            // front of it (never emitted twice).
            let stream = FieldStream::resume(sc, tail);
            self.held += stream.held();
            channel.stream = Ok(Box::new(stream));
        }
        let Ok(stream) = &mut channel.stream else {
            unreachable!("opened above");
        };
        let before = stream.held();
        stream.push(sc, text, false, &mut self.tally)?;
        self.held = self.held - before + stream.held();
        if self.held > MAX_HELD_BYTES {
            return Err(Stop::Limit {
                what: "held-back bytes per stream",
                limit: MAX_HELD_BYTES,
            });
        }
        let text = text.clone();
        self.keep(i, &text)
    }

    /// A `*.done` event: the channel ends (what it held is released ahead
    /// of the event), and the event's whole text is what was emitted.
    fn done<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        key: Key,
        event: &mut ResponseEvent,
    ) -> Result<(), Stop> {
        match self.channels.iter().rposition(|c| c.key == key) {
            Some(i) => {
                self.end_channel_at(sc, i, Some(&*event))?;
                if let Some(field) = field_of(event, key.2) {
                    field.clone_from(&self.channels[i].emitted);
                }
            }
            None => {
                if let Some(t) = field_of(event, key.2) {
                    whole(sc, t, key.2.is_json(), &mut self.tally)?;
                }
            }
        }
        Ok(())
    }

    fn end_key<D: Detector<Cursor = C>>(&mut self, sc: &Scanner<D>, key: Key) -> Result<(), Stop> {
        match self.channels.iter().rposition(|c| c.key == key) {
            Some(i) => self.end_channel(sc, i),
            None => Ok(()),
        }
    }

    fn end_item<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        output: u32,
    ) -> Result<(), Stop> {
        for i in 0..self.channels.len() {
            if self.channels[i].key.0 == output {
                self.end_channel(sc, i)?;
            }
        }
        Ok(())
    }

    fn end_all<D: Detector<Cursor = C>>(&mut self, sc: &Scanner<D>) -> Result<(), Stop> {
        for i in 0..self.channels.len() {
            self.end_channel(sc, i)?;
        }
        Ok(())
    }

    fn end_channel<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        i: usize,
    ) -> Result<(), Stop> {
        self.end_channel_at(sc, i, None)
    }

    /// Ends channel `i` if open: what it held, judged as the end of its
    /// text, goes out as a delta event (with the ids of `like`, the event
    /// that ended it, when it has them).
    fn end_channel_at<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        i: usize,
        like: Option<&ResponseEvent>,
    ) -> Result<(), Stop> {
        let channel = &mut self.channels[i];
        let Ok(stream) = &mut channel.stream else {
            return Ok(());
        };
        self.held -= stream.held();
        let mut last = String::new();
        let tail = stream.finish(sc, &mut last, &mut self.tally)?;
        channel.stream = Err(tail);
        if last.is_empty() {
            return Ok(());
        }
        let key = channel.key;
        let item_id = like
            .and_then(|e| e.item_id.clone())
            .or_else(|| channel.item_id.clone());
        self.keep(i, &last)?;
        let delta_kind = match key.2 {
            Kind::OutputText => "response.output_text.delta".to_owned(),
            Kind::Refusal => "response.refusal.delta".to_owned(),
            Kind::ReasoningText => "response.reasoning_text.delta".to_owned(),
            Kind::Summary => "response.reasoning_summary_text.delta".to_owned(),
            Kind::Arguments => "response.function_call_arguments.delta".to_owned(),
            Kind::CustomInput => "response.custom_tool_call_input.delta".to_owned(),
            Kind::Other(id) => format!("{}.delta", self.stems[usize::from(id)]),
        };
        let mut release = ResponseEvent {
            kind: delta_kind,
            output_index: Some(key.0),
            item_id,
            delta: Some(Value::String(last)),
            ..ResponseEvent::default()
        };
        match key.2 {
            Kind::Summary => release.summary_index = Some(key.1),
            Kind::Arguments | Kind::CustomInput => {}
            _ => release.content_index = Some(key.1),
        }
        self.pending.push_back(release);
        Ok(())
    }

    /// A part announced with text in it, before any delta of its own: the
    /// text begins its channel (deltas append to it), held back as a delta
    /// would be, what it holds released later as a delta event.
    fn begin_part<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        key: Key,
        part: &mut OutputContent,
        item_id: Option<&String>,
    ) -> Result<(), Stop> {
        if self.channels.iter().any(|c| c.key == key) {
            return Ok(());
        }
        let text = match key.2 {
            Kind::Refusal => part.refusal.as_mut(),
            _ => part.text.as_mut(),
        };
        match text {
            Some(t) if !t.is_empty() => self.push(sc, key, t, item_id),
            _ => Ok(()),
        }
    }

    /// An item announced with text in it: each text begins its channel, as
    /// in [`begin_part`](Self::begin_part).
    fn begin_item<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        output: u32,
        item: &mut OutputItem,
    ) -> Result<(), Stop> {
        let id = item.id.clone();
        for (i, p) in item.content.iter_mut().enumerate() {
            self.begin_part(
                sc,
                (output, i as u32, Kind::of_part(p, false)),
                p,
                id.as_ref(),
            )?;
        }
        for (i, p) in item.summary.iter_mut().enumerate() {
            self.begin_part(sc, (output, i as u32, Kind::Summary), p, id.as_ref())?;
        }
        for (t, kind) in [
            (item.arguments.as_mut(), Kind::Arguments),
            (item.input.as_mut(), Kind::CustomInput),
        ] {
            if let Some(t) = t.filter(|t| !t.is_empty())
                && !self.channels.iter().any(|c| c.key == (output, 0, kind))
            {
                self.push(sc, (output, 0, kind), t, id.as_ref())?;
            }
        }
        Ok(())
    }

    /// A part repeated whole: the text emitted for it, or (never streamed)
    /// scanned whole; its citations scanned whole.
    fn whole_part<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        key: Key,
        part: &mut OutputContent,
    ) -> Result<(), Stop> {
        part.extra.remove("logprobs");
        let emitted = self
            .channels
            .iter()
            .rfind(|c| c.key == key)
            .map(|c| c.emitted.clone());
        for t in [part.text.as_mut(), part.refusal.as_mut()]
            .into_iter()
            .flatten()
        {
            match &emitted {
                Some(e) => t.clone_from(e),
                None => whole(sc, t, false, &mut self.tally)?,
            }
        }
        let tally = &mut self.tally;
        for note in &mut part.annotations {
            for t in [note.url.as_mut(), note.title.as_mut()]
                .into_iter()
                .flatten()
            {
                whole(sc, t, false, tally)?;
            }
            if sc.scan_unknown {
                extra_texts(&mut note.extra, &mut |t| whole(sc, t, false, tally))?;
            }
        }
        if sc.scan_unknown {
            extra_texts(&mut part.extra, &mut |t| whole(sc, t, false, tally))?;
        }
        Ok(())
    }

    fn whole_item<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        output: u32,
        item: &mut OutputItem,
    ) -> Result<(), Stop> {
        for (i, p) in item.content.iter_mut().enumerate() {
            let key = (output, i as u32, Kind::of_part(p, false));
            self.whole_part(sc, key, p)?;
        }
        for (i, p) in item.summary.iter_mut().enumerate() {
            self.whole_part(sc, (output, i as u32, Kind::Summary), p)?;
        }
        for (t, kind) in [
            (item.arguments.as_mut(), Kind::Arguments),
            (item.input.as_mut(), Kind::CustomInput),
        ] {
            let Some(t) = t else { continue };
            match self.channels.iter().rfind(|c| c.key == (output, 0, kind)) {
                Some(c) => t.clone_from(&c.emitted),
                None => whole(sc, t, kind.is_json(), &mut self.tally)?,
            }
        }
        let tally = &mut self.tally;
        if let Some(t) = item.name.as_mut() {
            whole(sc, t, false, tally)?;
        }
        if sc.scan_unknown {
            extra_texts(&mut item.extra, &mut |t| whole(sc, t, false, tally))?;
        }
        Ok(())
    }

    fn whole_response<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        response: &mut Response,
    ) -> Result<(), Stop> {
        for (i, item) in response.output.iter_mut().enumerate() {
            self.whole_item(sc, i as u32, item)?;
        }
        let tally = &mut self.tally;
        response_texts(response, sc.scan_unknown, &mut |t| {
            whole(sc, t, false, tally)
        })
    }
}

/// Which named fields of an event its type uses (the others are scanned
/// whole by [`EventState::rest`]).
#[derive(Clone, Copy)]
struct Used(u8);

impl Used {
    const NONE: Self = Self(0);
    const TEXT: Self = Self(1);
    const REFUSAL: Self = Self(2);
    const ARGUMENTS: Self = Self(4);
    const MESSAGE: Self = Self(8);
    const DELTA: Self = Self(16);
    const ITEM: Self = Self(32);
    const PART: Self = Self(64);
    const RESPONSE: Self = Self(128);

    fn has(self, bit: Self) -> bool {
        bit.0 != 0 && self.0 & bit.0 != 0
    }
}

/// Which part of its item an event's text of kind `k` is in: a summary
/// part by `summary_index`, any other part by `content_index` (a stray
/// index of the other kind is ignored, as a caller placing the text
/// ignores it; a missing one is 0, as a lenient caller reads it), and 0 for
/// a call, which has no parts.
fn part_index(event: &ResponseEvent, k: Kind) -> u32 {
    match k {
        Kind::Summary => event.summary_index,
        Kind::Arguments | Kind::CustomInput => None,
        _ => event.content_index,
    }
    .unwrap_or(0)
}

/// The field of a `*.done` event that repeats the text whole.
fn field_of(event: &mut ResponseEvent, kind: Kind) -> Option<&mut String> {
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
fn whole<D: Detector>(
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
fn strings<D: Detector>(sc: &Scanner<D>, v: &mut Value, tally: &mut Tally) -> Result<(), Stop> {
    match v {
        Value::String(s) => whole(sc, s, false, tally),
        Value::Array(a) => a.iter_mut().try_for_each(|v| strings(sc, v, tally)),
        Value::Object(o) => o.values_mut().try_for_each(|v| strings(sc, v, tally)),
        _ => Ok(()),
    }
}
