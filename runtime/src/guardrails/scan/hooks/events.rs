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

mod dispatch;
mod text;
mod whole;

use std::collections::VecDeque;

use serde_json::Value;

use self::text::{Kind, field_of, strings, whole};
use super::{Stop, limit_info, limit_trip, result, trip};
use crate::guardrails::result::record_shared;
use crate::guardrails::scan::engine::{Detector, FieldStream, Scanner, Tail, Tally};
use crate::guardrails::scan::hooks::ScanGuard;
use crate::hooks::{ChunkAction, HookContext, HookError, Stage};
use crate::limits::{MAX_GATHERED_BYTES, MAX_HELD_BYTES, MAX_TEXT_CHANNELS};
use crate::types::responses::ResponseEvent;

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
        // Callers join every `output_text` part of every message into one
        // text (the SDKs' `output_text`): a new one goes on from where the
        // last ended, so a match across the boundary is found (and, as part
        // of it was delivered, blocks).
        let before = (key.2 == Kind::OutputText)
            .then(|| {
                self.channels
                    .iter()
                    .rposition(|c| c.key.2 == Kind::OutputText)
            })
            .flatten();
        let stream = match before {
            Some(b) => {
                self.end_channel_at(sc, b, None)?;
                let Err(tail) = &self.channels[b].stream else {
                    unreachable!("ended above");
                };
                let stream = FieldStream::resume(sc, tail);
                self.held += stream.held();
                stream
            }
            None if key.2.is_json() => FieldStream::new_json(&*sc.det),
            None => FieldStream::new(&*sc.det),
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
}
