//! How [`UrlRule`] walks a token run: candidates found, judged, and
//! carried from one piece of a long token to the next.

use super::*;

impl RunRule for UrlRule {
    type Carry = UrlCarry;
    const BREAKS: bool = true;

    fn table(&self) -> &[bool; 256] {
        &self.table
    }

    fn breaks(&self, bytes: &[u8], at: usize, len: usize) -> u64 {
        breaks(bytes, at, len)
    }

    fn cap(&self) -> usize {
        URL_TOKEN_CAP
    }

    fn min_len(&self) -> usize {
        // `a.io` is the shortest host worth a look.
        4
    }

    fn judge(&self, run: &[u8], start: usize, out: &mut Vec<Finding>) {
        self.judge_piece(run, start, true, &mut UrlCarry::default(), out);
    }

    fn judge_piece(
        &self,
        piece: &[u8],
        start: usize,
        last: bool,
        carry: &mut UrlCarry,
        out: &mut Vec<Finding>,
    ) -> usize {
        let fresh = carry.open.is_none() && carry.prev.is_none();
        if last && fresh && (piece.len() < self.min_len() || !may_hold(piece)) {
            return piece.len();
        }
        // A piece that is not the last may end inside a character.
        let text = match std::str::from_utf8(piece) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(&piece[..e.valid_up_to()]).unwrap_or_default(),
        };
        if text.is_empty() {
            return piece.len();
        }
        let view = View::new(text);
        let v = view.text.as_ref();
        let bytes = v.as_bytes();
        if bytes.is_empty() {
            // Nothing but references to tabs and line breaks.
            carry.prev = piece.last().copied();
            return text.len();
        }
        let mut push = |s: usize, e: usize, kind: u32| {
            let (s, e) = (view.src(s), view.src(e));
            if e > s {
                out.push(Finding {
                    start: start + s,
                    end: start + e,
                    kind,
                });
            }
        };
        // A URL begun in an earlier piece: to its end.
        let mut from = 0;
        if let Some(open) = carry.open.take() {
            let (end, depth, closed) = extent(bytes, 0, open.rule, open.depth, last);
            if let Some(kind) = open.kind {
                push(0, end, kind);
            }
            if !closed {
                carry.open = Some(Open { depth, ..open });
                carry.prev = bytes.last().copied();
                return text.len();
            }
            from = end;
        }
        // Where candidates may no longer begin in a piece that is not the
        // last: before its last `URL_LOOKAHEAD` bytes, after a safe byte.
        let (stop, forced) = match last {
            true => (bytes.len(), false),
            false => {
                let mut edge = bytes
                    .len()
                    .saturating_sub(URL_LOOKAHEAD)
                    .max(bytes.len() / 2);
                while !v.is_char_boundary(edge) {
                    edge -= 1;
                }
                let safe = (bytes.len() / 2..edge)
                    .rev()
                    .find(|&k| k > 0 && SAFE.contains(&bytes[k - 1]) && view.literal(k - 1));
                match safe {
                    Some(k) => (k, false),
                    None => (edge, true),
                }
            }
        };
        let mut next = stop.max(from);
        let mut held: Option<Open> = None;
        let mut pending: Option<(How, End)> = None;
        let mut broken = 0;
        let mut stopped = false;
        // What becomes of each candidate.
        let mut on = |c: Candidate| {
            if c.open && !last && c.start >= bytes.len() / 2 {
                // Judged from the next piece, which starts at it (one that
                // begins in the first half has half a piece here at least).
                next = c.start;
                pending = Some((c.how, c.rule));
                return Flow::Stop;
            }
            let (verdict, s, e) = match self.read(v, &c) {
                Ok(reading) => reading,
                Err(Miss::Word) => return Flow::Into,
                // Text no parser takes is no URL, and what follows may be
                // one; past a few in a piece, it is taken as a URL that is
                // not allowed, so the work stays bounded. One whose
                // authority runs past the piece may parse whole: it trips.
                Err(Miss::Broken)
                    if broken < MAX_BROKEN
                        && !(c.open && !last && authority_open(&v[c.start..c.end])) =>
                {
                    broken += 1;
                    return Flow::Into;
                }
                Err(Miss::Broken) => (Some(KIND_HOST), c.start, c.end),
            };
            if c.open && !last && e == c.end {
                // A URL longer than the piece: judged on what is here, and
                // the rest of it goes with it.
                let kind = verdict.inspect(|&kind| push(s, e, kind));
                held = Some(Open {
                    rule: c.rule,
                    depth: c.depth,
                    kind,
                });
                next = bytes.len();
                return Flow::Stop;
            }
            if let Some(kind) = verdict {
                push(s, e, kind);
            }
            next = next.max(e);
            Flow::Past
        };
        // A candidate that began too late in the last piece.
        if let Some((how, rule)) = carry.pending.take()
            && from == 0
        {
            let (end, depth, closed) = extent(bytes, 0, rule, 0, last);
            let c = Candidate {
                start: 0,
                end,
                how,
                rule,
                depth,
                open: !closed,
                cut: false,
                autolink: false,
            };
            match on(c) {
                Flow::Stop => stopped = true,
                Flow::Past => from = end.max(1),
                Flow::Into => {}
            }
        }
        if !stopped && from < bytes.len() && from < stop {
            let prev = match from {
                0 => carry.prev,
                f => Some(bytes[f - 1]),
            };
            let cut = from == 0 && carry.cut;
            let lead = from == 0 && carry.prev.is_none();
            walk(&bytes[from..], prev, cut, stop - from, last, lead, |c| {
                on(Candidate {
                    start: c.start + from,
                    end: c.end + from,
                    ..c
                })
            });
        }
        if last {
            return text.len();
        }
        carry.open = held;
        carry.pending = pending;
        let mut next = next.clamp(1, bytes.len());
        while !v.is_char_boundary(next) {
            next += 1;
        }
        carry.prev = Some(bytes[next - 1]);
        carry.cut = forced && next == stop && is_scheme_byte(bytes[next - 1]);
        view.src(next)
    }

    fn entity(&self, kind: u32) -> &str {
        match kind {
            KIND_SCHEME => "scheme_not_allowed",
            KIND_USERINFO => "userinfo_not_allowed",
            KIND_CONFUSABLE => "confusable_host",
            KIND_MIXED => "mixed_script_host",
            _ => "host_not_allowed",
        }
    }

    fn label(&self, _kind: u32) -> &str {
        "URL"
    }
}
