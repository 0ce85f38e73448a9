//! The per-stream state of a scanning chunk hook: a text stream per channel
//! of each choice, and what a chunk carries through them.

use super::*;

/// One streamed channel of a choice.
pub(super) enum Slot<C> {
    /// Text goes on: held back as it streams.
    Open(Box<FieldStream<C>>),
    /// The choice finished: the text the stream held at its end, to scan
    /// again in front of any text that still comes.
    Finished(Tail),
}

/// One choice of a stream: a text stream per channel.
pub(super) struct ChoiceState<C> {
    pub(super) index: u32,
    /// At most [`MAX_TOOL_CALLS`] tool-call channels, [`MAX_VALUE_PLACES`]
    /// value places and one of each other channel.
    pub(super) streams: Vec<(Channel, Slot<C>)>,
    /// How many of `streams` are [`Channel::ToolArguments`].
    pub(super) tool_calls: usize,
}

impl<C> ChoiceState<C> {
    pub(super) fn holds_text(&self) -> bool {
        self.streams
            .iter()
            .any(|(_, s)| matches!(s, Slot::Open(f) if f.holds_text()))
    }
}

/// Identity of the stream's chunks, copied onto the chunk `on_end` emits.
pub(super) struct Meta {
    pub(super) id: String,
    pub(super) object: String,
    pub(super) created: u64,
    pub(super) model: String,
}

/// Per-stream state of a scanning chunk hook.
pub(crate) struct StreamState<C> {
    /// In the order they first came; at most [`MAX_CHOICES`].
    pub(super) choices: Vec<ChoiceState<C>>,
    /// Where each choice index is in `choices`.
    pub(super) positions: HashMap<u32, usize>,
    /// Where the last choice looked up is: most chunks are for the same
    /// choice as the one before.
    pub(super) last: usize,
    /// Bytes of original text held back now, over every choice and
    /// channel (what [`Self::held_bytes`] counts), kept as it changes.
    pub(super) held: usize,
    pub(super) meta: Option<Meta>,
    pub(super) tally: Tally,
    pub(super) reported: bool,
}

impl<C> Default for StreamState<C> {
    fn default() -> Self {
        Self {
            choices: Vec::new(),
            positions: HashMap::new(),
            last: 0,
            held: 0,
            meta: None,
            tally: Tally::default(),
            reported: false,
        }
    }
}

impl<C: Send> StreamState<C> {
    /// Where the state of choice `index` is in `choices`, made if new.
    pub(super) fn choice(&mut self, index: u32) -> Result<usize, Stop> {
        if self
            .choices
            .get(self.last)
            .is_some_and(|c| c.index == index)
        {
            return Ok(self.last);
        }
        let i = match self.positions.get(&index) {
            Some(&i) => i,
            None if self.choices.len() == MAX_CHOICES => {
                return Err(Stop::Limit {
                    what: "choices per stream",
                    limit: MAX_CHOICES,
                });
            }
            None => {
                self.choices.push(ChoiceState {
                    index,
                    streams: Vec::new(),
                    tool_calls: 0,
                });
                self.positions.insert(index, self.choices.len() - 1);
                self.choices.len() - 1
            }
        };
        self.last = i;
        Ok(i)
    }

    /// Scans every text channel of every choice in `chunk`.
    pub(crate) fn on_chunk<G: ScanGuard<Det: Detector<Cursor = C>>>(
        &mut self,
        g: &G,
        chunk: &mut ChatChunk,
        cx: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        if self.meta.is_none() {
            self.meta = Some(Meta {
                id: chunk.id.clone(),
                object: chunk.object.clone(),
                created: chunk.created,
                model: chunk.model.clone(),
            });
        }
        let sc = g.scanner();
        let mut outcome = Ok(());
        for choice in &mut chunk.choices {
            outcome = self.choice(choice.index).and_then(|i| {
                let state = &mut self.choices[i];
                scan_choice(sc, state, choice, &mut self.tally, &mut self.held)
            });
            if outcome.is_err() {
                break;
            }
        }
        debug_assert_eq!(
            outcome.is_ok().then_some(self.held),
            outcome.is_ok().then(|| self.held_bytes())
        );
        match outcome {
            Ok(()) => Ok(ChunkAction::Pass),
            Err(Stop::Blocked) => {
                self.report(g, cx, true, None);
                Err(trip(g, &self.tally))
            }
            Err(Stop::Limit { what, limit }) => {
                self.report(g, cx, true, Some(limit_info(what, limit)));
                Err(limit_trip(g, &self.tally, what, limit))
            }
        }
    }

    /// Releases what every choice still holds, judged as the end of its
    /// text, as one chunk.
    pub(crate) fn on_end<G: ScanGuard<Det: Detector<Cursor = C>>>(
        &mut self,
        g: &G,
        cx: &HookContext,
    ) -> Result<Option<ChatChunk>, HookError> {
        let sc = g.scanner();
        let mut tally = std::mem::take(&mut self.tally);
        let mut choices = Vec::new();
        let mut outcome = Ok(());
        for state in &mut self.choices {
            if !state.holds_text() {
                continue;
            }
            let mut choice = ChunkChoice {
                index: state.index,
                ..ChunkChoice::default()
            };
            outcome = flush_choice(sc, state, &mut choice, &mut tally, &mut self.held);
            if outcome.is_err() {
                break;
            }
            choices.push(choice);
        }
        self.tally = tally;
        if outcome.is_err() {
            self.report(g, cx, true, None);
            return Err(trip(g, &self.tally));
        }
        self.report(g, cx, false, None);
        if choices.is_empty() {
            return Ok(None);
        }
        let meta = self.meta.take();
        Ok(Some(ChatChunk {
            id: meta.as_ref().map(|m| m.id.clone()).unwrap_or_default(),
            object: meta.as_ref().map(|m| m.object.clone()).unwrap_or_default(),
            created: meta.as_ref().map_or(0, |m| m.created),
            model: meta.map(|m| m.model).unwrap_or_default(),
            choices,
            ..ChatChunk::default()
        }))
    }

    /// Bytes of original text held back, over every choice and channel.
    pub(crate) fn held_bytes(&self) -> usize {
        self.choices
            .iter()
            .flat_map(|c| &c.streams)
            .map(|(_, s)| match s {
                Slot::Open(f) => f.held(),
                Slot::Finished(_) => 0,
            })
            .sum()
    }

    /// Records the result once; `limit` is the limit the stream went
    /// past, if that is why it tripped.
    pub(super) fn report<G: ScanGuard>(
        &mut self,
        g: &G,
        cx: &HookContext,
        tripped: bool,
        limit: Option<serde_json::Value>,
    ) {
        if !self.reported {
            self.reported = true;
            let mut result = result(g, Stage::Chunk, tripped, &self.tally);
            if let Some(limit) = limit {
                result.info["limit"] = limit;
            }
            record_shared(cx, result);
        }
    }
}

/// The open stream of channel `ch`: a new one, or one that resumes after
/// the choice's finish (what it holds from the start is added to `held`).
/// A tool-call channel past [`MAX_TOOL_CALLS`] in the choice is an error.
pub(super) fn stream_of<'s, D: Detector>(
    sc: &Scanner<D>,
    streams: &'s mut Vec<(Channel, Slot<D::Cursor>)>,
    tool_calls: &mut usize,
    ch: Channel,
    held: &mut usize,
) -> Result<&'s mut FieldStream<D::Cursor>, Stop> {
    let i = match streams.iter().position(|(c, _)| *c == ch) {
        Some(i) => i,
        None => {
            if let Channel::ToolArguments(_) = ch {
                if *tool_calls == MAX_TOOL_CALLS {
                    return Err(Stop::Limit {
                        what: "tool calls per choice",
                        limit: MAX_TOOL_CALLS,
                    });
                }
                *tool_calls += 1;
            }
            let stream = match ch.is_json() {
                true => FieldStream::new_json(&*sc.det),
                false => FieldStream::new(&*sc.det),
            };
            streams.push((ch, Slot::Open(Box::new(stream))));
            streams.len() - 1
        }
    };
    let slot = &mut streams[i].1;
    if let Slot::Finished(tail) = slot {
        let stream = FieldStream::resume(sc, tail);
        *held += stream.held();
        *slot = Slot::Open(Box::new(stream));
    }
    match slot {
        Slot::Open(f) => Ok(f),
        Slot::Finished(_) => unreachable!("opened above"),
    }
}

/// Scans the text channels of one choice of a chunk; when the chunk
/// carries the choice's finish reason, releases everything the choice
/// holds into it.
///
/// `held` follows what the choice's streams hold back; past
/// [`MAX_HELD_BYTES`] the chunk stops the stream.
pub(super) fn scan_choice<D: Detector>(
    sc: &Scanner<D>,
    state: &mut ChoiceState<D::Cursor>,
    choice: &mut ChunkChoice,
    tally: &mut Tally,
    held: &mut usize,
) -> Result<(), Stop> {
    choice.logprobs = None;
    let finishing = choice.finish_reason.is_some();
    let (streams, tool_calls) = (&mut state.streams, &mut state.tool_calls);
    chunk_choice_texts(choice, sc.scan_unknown, &mut |ch, text| match ch {
        Channel::Value(_) => Ok(whole_value(sc, streams, ch, text, tally)?),
        ch => {
            let stream = stream_of(sc, streams, tool_calls, ch, held)?;
            let before = stream.held();
            stream.push(sc, text, false, tally)?;
            *held = *held - before + stream.held();
            if *held > MAX_HELD_BYTES {
                return Err(Stop::Limit {
                    what: "held-back bytes per stream",
                    limit: MAX_HELD_BYTES,
                });
            }
            Ok(())
        }
    })?;
    if finishing {
        flush_choice(sc, state, choice, tally, held)?;
    }
    Ok(())
}

/// Releases everything `state` holds into `choice`'s delta, judged as the
/// end of each channel's text, and keeps each channel's tail in case text
/// still comes.
pub(super) fn flush_choice<D: Detector>(
    sc: &Scanner<D>,
    state: &mut ChoiceState<D::Cursor>,
    choice: &mut ChunkChoice,
    tally: &mut Tally,
    held: &mut usize,
) -> Result<(), Blocked> {
    for (ch, slot) in &mut state.streams {
        let Slot::Open(stream) = slot else {
            continue;
        };
        *held -= stream.held();
        let mut text = String::new();
        let tail = stream.finish(sc, &mut text, tally)?;
        if !text.is_empty() {
            slot_push(choice, *ch, &text);
        }
        *slot = Slot::Finished(tail);
    }
    Ok(())
}

pub(super) fn slot_push(choice: &mut ChunkChoice, ch: Channel, text: &str) {
    if let Some(field) = slot(&mut choice.delta, ch) {
        field.push_str(text);
    }
}

/// The most places a choice keeps values at (see [`whole_value`]); values
/// at further places are scanned on their own.
pub(super) const MAX_VALUE_PLACES: usize = 64;

/// Scans a value that comes whole in its chunk (a name, a string in an
/// unknown field): as the end of the text at its place so far, so a match
/// that begins in an earlier value at the same place (which a client that
/// gathers the stream joins to it) is found, and blocks; a match inside
/// the value is dealt with as in any text.
pub(super) fn whole_value<D: Detector>(
    sc: &Scanner<D>,
    streams: &mut Vec<(Channel, Slot<D::Cursor>)>,
    ch: Channel,
    text: &mut String,
    tally: &mut Tally,
) -> Result<(), Blocked> {
    let i = match streams.iter().position(|(c, _)| *c == ch) {
        Some(i) => i,
        None if streams.len() < MAX_VALUE_PLACES => {
            streams.push((ch, Slot::Finished(Tail::default())));
            streams.len() - 1
        }
        None => {
            if let Some(new) = sc.apply(text, tally)? {
                *text = new;
            }
            return Ok(());
        }
    };
    let slot = &mut streams[i].1;
    let mut stream = match slot {
        Slot::Finished(tail) => FieldStream::resume(sc, tail),
        Slot::Open(_) => FieldStream::new(&*sc.det),
    };
    *slot = Slot::Finished(stream.finish(sc, text, tally)?);
    Ok(())
}
