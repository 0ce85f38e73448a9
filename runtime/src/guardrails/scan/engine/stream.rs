//! Scanning a text that arrives in pieces: a [`FieldStream`] holds back
//! only what could still be part of a match.

use super::*;

/// What a finished stream held at its end (see [`FieldStream::finish`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct Tail {
    pub(super) text: String,
    /// For JSON text, whether the tail starts inside a string.
    pub(super) json: Option<bool>,
}

/// One stream of text (one field of one choice) under one detector.
pub(crate) struct FieldStream<C> {
    pub(super) win: Window,
    pub(super) cur: C,
    /// Confirmed findings not emitted yet, sorted by start when emitting.
    pub(super) found: Vec<Finding>,
    /// Folded offset before which the text was already delivered (a stream
    /// resumed after its end, see [`resume`](Self::resume)); 0 otherwise.
    pub(super) delivered: usize,
    /// Original bytes at the start of what this stream emits next that were
    /// delivered already, and are dropped from its output.
    pub(super) skip: usize,
    /// For JSON text (tool-call arguments): its lexer, and the end of the
    /// last piece when it stops inside an escape (held, not yet folded).
    pub(super) json: Option<Box<(JsonLex, String)>>,
}

impl<C> FieldStream<C> {
    pub(crate) fn new<D: Detector<Cursor = C>>(det: &D) -> Self {
        Self {
            win: Window::new(det.fold()),
            cur: det.cursor(),
            found: Vec::new(),
            delivered: 0,
            skip: 0,
            json: None,
        }
    }

    /// A stream of JSON text (see [`JsonLex`]): string escapes are matched
    /// as what they stand for, and a match is only replaced when it lies
    /// inside one string (elsewhere it blocks), so replacing keeps the JSON
    /// valid.
    pub(crate) fn new_json<D: Detector<Cursor = C>>(det: &D) -> Self {
        let mut s = Self::new(det);
        s.json = Some(Box::default());
        s
    }

    /// Ends the stream with `text`, its last piece (replaced with what may
    /// be emitted, everything), and returns what it held just before its
    /// end: the text a match could still start in, were the stream to go
    /// on (see [`resume`](Self::resume)).
    pub(crate) fn finish<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        text: &mut String,
        tally: &mut Tally,
    ) -> Result<Tail, Blocked> {
        self.push(sc, text, false, tally)?;
        let mut tail = Tail {
            text: self.win.orig().to_owned(),
            json: None,
        };
        if let Some(json) = &self.json {
            tail.text.push_str(&json.1);
            tail.json = Some(json.0.in_string_at(self.win.orig_base()));
        }
        let mut rest = String::new();
        self.push(sc, &mut rest, true, tally)?;
        text.push_str(&rest);
        Ok(tail)
    }

    /// A stream that goes on after [`finish`](Self::finish) (text after a
    /// choice's finish reason): the tail, the text the finished stream held
    /// at its end and has delivered since, is scanned again as this
    /// stream's start but never emitted again. A match that begins in it
    /// and ends in later text can no longer be masked, so it blocks
    /// whatever the treatment; matches inside it were dealt with when it
    /// was delivered.
    pub(crate) fn resume<D: Detector<Cursor = C>>(sc: &Scanner<D>, tail: &Tail) -> Self {
        let mut s = Self::new(&*sc.det);
        if let Some(in_string) = tail.json {
            s.json = Some(Box::new((JsonLex::starting(in_string), String::new())));
        }
        let mut text = tail.text.clone();
        // Matches inside the tail were counted when it was delivered.
        let _ = s.push(sc, &mut text, false, &mut Tally::default());
        s.delivered = s.win.fold_end();
        s.skip = s.held();
        let delivered = s.delivered;
        s.found.retain(|f| f.end > delivered);
        s
    }

    /// Whether text is held back.
    pub(crate) fn holds_text(&self) -> bool {
        !self.win.is_empty() || self.json.as_ref().is_some_and(|j| !j.1.is_empty())
    }

    /// Takes `text` (the next piece of the stream) and replaces it with what
    /// may be emitted now; with `eoi`, flushes everything.
    pub(crate) fn push<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        text: &mut String,
        eoi: bool,
        tally: &mut Tally,
    ) -> Result<(), Blocked> {
        let known = self.found.len();
        // With no finding pending (the usual case), fold the text first and
        // copy it into the window only if something in it matches: clean
        // text is cut where the frontier falls, in place.
        let fast = known == 0;
        if let Some(json) = &mut self.json {
            let (lex, rest) = &mut **json;
            if !rest.is_empty() {
                text.insert_str(0, rest);
                rest.clear();
            }
            let n = self.win.append_folded_json(text, lex, eoi);
            *rest = text.split_off(n);
            if !fast {
                self.win.push_orig(text);
            }
        } else if fast {
            self.win.append_folded(text);
        } else {
            self.win.append(text);
        }
        let hay = Hay::of(&self.win);
        let mut frontier = sc.det.scan(&mut self.cur, &hay, eoi, &mut self.found);
        if eoi {
            frontier = self.win.fold_end();
        }
        if self.found.len() > known {
            let mut straddles = false;
            if self.delivered > 0 {
                let delivered = self.delivered;
                let mut i = known;
                while i < self.found.len() {
                    if self.found[i].end <= delivered {
                        self.found.swap_remove(i);
                        continue;
                    }
                    straddles |= self.found[i].start < delivered;
                    i += 1;
                }
            }
            if let Some(json) = &self.json {
                // Only a match inside one string can be replaced and leave
                // the JSON valid.
                straddles |= self.found[known..].iter().any(|f| {
                    !json
                        .0
                        .inside_one_string(self.win.down(f.start), self.win.up(f.end))
                });
            }
            for f in &self.found[known..] {
                tally.add(sc.det.entity(f.kind));
            }
            if self.found.len() > known && (sc.treat == Treatment::Block || straddles) {
                return Err(Blocked);
            }
        }
        if fast {
            if self.found.is_empty() {
                // At the end, the characters that fold to nothing after the
                // last folded byte go too.
                let cut = if eoi {
                    usize::MAX
                } else {
                    self.win.down(frontier)
                };
                if self.win.settle(text, cut, frontier.saturating_sub(4)) {
                    self.bound_ignorable(text);
                    self.drop_delivered(text);
                    return Ok(());
                }
            }
            self.win.push_orig(text);
        }
        text.clear();
        self.emit(sc, frontier, eoi, text);
        self.bound_ignorable(text);
        self.drop_delivered(text);
        Ok(())
    }

    /// Drops from the start of `out` what a resumed stream delivered
    /// before, and the JSON lexer's quotes before what is held.
    pub(super) fn drop_delivered(&mut self, out: &mut String) {
        if let Some(json) = &mut self.json {
            json.0.forget_before(self.win.orig_base());
        }
        if self.skip > 0 {
            let mut n = self.skip.min(out.len());
            while !out.is_char_boundary(n) {
                n -= 1;
            }
            out.drain(..n);
            self.skip -= n;
        }
    }

    /// Bytes of original text held back.
    pub(crate) fn held(&self) -> usize {
        self.win.orig().len() + self.json.as_ref().map_or(0, |j| j.1.len())
    }

    /// Keeps the held characters that fold to nothing within
    /// [`IGNORABLE_HOLD_CAP`] bytes (see [`Window::shed_ignorable`]): a
    /// detector's frontier is in folded bytes, where they take no room.
    /// Text without them (ASCII above all) costs one comparison per chunk.
    pub(super) fn bound_ignorable(&mut self, out: &mut String) {
        if self.win.ignorable() > IGNORABLE_HOLD_CAP {
            self.win.shed_ignorable(out, IGNORABLE_HOLD_CAP);
        }
    }

    /// Appends to `out` the held text before `frontier`, findings replaced,
    /// and forgets it. A group of overlapping findings is replaced as one and
    /// only once none of it can still grow: a group reaching past the
    /// frontier stays held from its start. With `eoi`, everything goes.
    pub(super) fn emit<D: Detector<Cursor = C>>(
        &mut self,
        sc: &Scanner<D>,
        frontier: usize,
        eoi: bool,
        out: &mut String,
    ) {
        let mut cut = frontier;
        let mut pos = self.win.orig_base();
        let mut done = 0;
        if !self.found.is_empty() {
            if self.found.len() > 1 {
                self.found.sort_by_key(|f| (f.start, f.end));
            }
            let hay = Hay::of(&self.win);
            let mut i = 0;
            while i < self.found.len() {
                let (start, kind) = (self.found[i].start, self.found[i].kind);
                let mut end = self.found[i].end;
                let mut j = i + 1;
                while j < self.found.len() && self.found[j].start < end {
                    end = end.max(self.found[j].end);
                    j += 1;
                }
                // A group ending where the folded text ends waits for what
                // follows: characters that fold to nothing there are part of
                // its mask in the whole text.
                if end > frontier || (!eoi && end >= self.win.fold_end()) {
                    cut = cut.min(start);
                    break;
                }
                let s = self.win.down(start).max(pos);
                out.push_str(self.slice(pos, s));
                replace(sc, kind, hay.slice(start, end), out);
                pos = self.win.up(end).max(s);
                // The explicit bidi controls under the mask stay, after it:
                // an override opened before the match and closed inside it
                // (or the reverse) must not be left open in what is shown.
                let under = self.slice(s, pos);
                if !under.is_ascii() {
                    out.extend(under.chars().filter(|&c| bidi::is_explicit(c)));
                }
                i = j;
                done = j;
            }
        }
        self.found.drain(..done);
        let stop = match eoi {
            // Nothing is pending at the end: what follows the last folded
            // byte (characters that fold to nothing) goes too.
            true => self.win.orig_end(),
            false => self.win.down(cut).max(pos),
        };
        out.push_str(self.slice(pos, stop));
        self.win.consume(stop, cut.saturating_sub(4));
    }

    /// Held original text between two absolute offsets.
    pub(super) fn slice(&self, from: usize, to: usize) -> &str {
        let base = self.win.orig_base();
        let orig = self.win.orig();
        let s = from.saturating_sub(base).min(orig.len());
        let e = to.saturating_sub(base).clamp(s, orig.len());
        orig.get(s..e).unwrap_or_default()
    }
}
