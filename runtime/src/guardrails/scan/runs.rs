//! Detectors that judge whole tokens: runs of bytes from a class.
//!
//! Secrets and URLs are not regular languages worth a DFA (entropy is not
//! regular; a URL is judged by parsing it), but both are tokens: a maximal
//! run of bytes from a small class. The scan walks bytes once with a 256-entry
//! table, holds back only the run in progress, and judges each run when it
//! ends. A run longer than the rule's cap is judged in pieces of at most the
//! cap, so a chunk hook never holds more than the cap: a piece is judged once
//! the run is known to go on past it, the rule says how much of it is decided
//! (all of it by default; less when something that began in it is better
//! judged from the next piece) and the next piece starts there, with what the
//! rule carries over. Where the pieces fall depends on the text alone, so
//! streamed and whole-text results stay equal.
//!
//! A rule whose table takes non-ASCII bytes can end runs at some non-ASCII
//! characters ([`RunRule::breaks`]); blocks of ASCII never ask it.

use super::engine::{Detector, Finding, Hay};
use super::fold::Fold;

/// What a run detector looks for.
pub(crate) trait RunRule: Send + Sync + 'static {
    /// What the rule carries from one piece of a long run to the next; reset
    /// when a run ends.
    type Carry: Default + Send + std::fmt::Debug;
    /// Whether [`breaks`](Self::breaks) can end runs (when not, it is never
    /// called).
    const BREAKS: bool = false;
    /// Which bytes (of folded text) make up a run.
    fn table(&self) -> &[bool; 256];
    /// Of the block `bytes[at..at + len]` (at most 64 bytes, not all ASCII),
    /// the bytes the table takes that end a run all the same, as a mask (bit
    /// `k` for `bytes[at + k]`). `bytes` holds at least the three bytes
    /// before the block when the text has them, and whole characters.
    fn breaks(&self, _bytes: &[u8], _at: usize, _len: usize) -> u64 {
        0
    }
    /// The longest run judged in one piece.
    fn cap(&self) -> usize;
    /// The shortest run worth judging (shorter ones are skipped unjudged).
    fn min_len(&self) -> usize;
    /// Judges the complete run `run`, which starts at absolute offset
    /// `start`.
    fn judge(&self, run: &[u8], start: usize, out: &mut Vec<Finding>);
    /// Judges one piece of a run, starting at absolute offset `start`: with
    /// `last`, the rest of the run (at most [`cap`](Self::cap) bytes);
    /// otherwise `cap` bytes of a run known to go on past them. Returns how
    /// many bytes of a piece that is not the last are decided: the next
    /// piece starts there (at least one byte; at most the piece). By default
    /// the whole piece, judged as a run if long enough.
    fn judge_piece(
        &self,
        piece: &[u8],
        start: usize,
        last: bool,
        _carry: &mut Self::Carry,
        out: &mut Vec<Finding>,
    ) -> usize {
        if !last || piece.len() >= self.min_len() {
            self.judge(piece, start, out);
        }
        piece.len()
    }
    /// See [`Detector::entity`].
    fn entity(&self, kind: u32) -> &str;
    /// See [`Detector::label`].
    fn label(&self, kind: u32) -> &str;
}

/// A [`Detector`] built from a [`RunRule`].
#[derive(Debug, Clone)]
pub(crate) struct RunDetector<R>(pub(crate) R);

/// Per-stream state of a [`RunDetector`].
#[derive(Debug, Default)]
pub struct RunCursor<C = ()> {
    /// Next absolute folded offset to read.
    at: usize,
    /// Where the undecided rest of the run in progress starts.
    start: Option<usize>,
    /// Whether pieces of the run in progress were judged already (its rest
    /// is then judged however short).
    mid: bool,
    /// What the rule carries to the next piece of the run in progress.
    carry: C,
}

/// Bit `k` set when `table[block[k]]` (`block` is at most 64 bytes).
pub(crate) fn block_mask(block: &[u8], table: &[bool; 256]) -> u64 {
    let mut m = 0u64;
    for (k, &b) in block.iter().enumerate() {
        m |= u64::from(table[usize::from(b)]) << k;
    }
    m
}

/// The high bit of each byte of `flags` (bits 7, 15, ... 63; the others
/// clear), gathered into one byte: bit `i` from byte `i`. Shifts and ors
/// only: the compiler vectorises the keyword scan's word-mask loop, and
/// SSE2 has no 64-bit multiply, so the usual multiply gather becomes
/// several instructions per word there. (In [`nonspace_mask`] the multiply
/// measured no slower, so it stays.)
pub(crate) fn gather_high(flags: u64) -> u8 {
    // Bit `i` starts at `8i`; each step doubles the bits packed at the
    // bottom of every byte, and the low byte ends up holding all eight.
    let mut f = flags >> 7;
    f |= f >> 7;
    f |= f >> 14;
    f |= f >> 28;
    f as u8
}

/// Bit `k` set unless `block[k]` is whitespace or a control byte (`0x01` to
/// `0x20`); `block` is at most 64 bytes, bits past it are clear. Eight
/// bytes at a time with the byte-range test of "Bit Twiddling Hacks" (exact
/// for every byte value).
pub(crate) fn nonspace_mask(block: &[u8]) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const LOW7: u64 = LO * 127;
    let mut words = block.chunks_exact(8);
    let mut m = 0u64;
    let mut k = 0;
    for w in &mut words {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        // High bit of each byte in 0x01..=0x20.
        let space =
            ((LO * (127 + 0x21)).wrapping_sub(x & LOW7) & !x & ((x & LOW7) + LO * 127)) & HI;
        let bits = ((space >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u8;
        m |= u64::from(!bits) << k;
        k += 8;
    }
    for (i, &b) in words.remainder().iter().enumerate() {
        if !(0x01..=0x20).contains(&b) {
            m |= 1 << (k + i);
        }
    }
    m
}

/// The low `n` bits set (`n` at most 64).
pub(crate) fn low_bits(n: usize) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// Bit `i` set when bits `i..i + n` of `m` are all set: where runs of at
/// least `n` ones start.
pub(crate) fn long_runs(m: u64, n: usize) -> u64 {
    if n > 64 {
        return 0;
    }
    let mut r = m;
    let mut have = 1;
    while have < n {
        let sh = have.min(n - have);
        r &= r >> sh;
        have += sh;
    }
    r
}

/// A byte table from a predicate.
pub(crate) fn table(pred: impl Fn(u8) -> bool) -> [bool; 256] {
    let mut t = [false; 256];
    for (b, slot) in t.iter_mut().enumerate() {
        *slot = pred(b as u8);
    }
    t
}

impl<R: RunRule> Detector for RunDetector<R> {
    type Cursor = RunCursor<R::Carry>;

    fn fold(&self) -> Fold {
        Fold::Exact
    }

    fn cursor(&self) -> RunCursor<R::Carry> {
        RunCursor::default()
    }

    fn scan(
        &self,
        cur: &mut RunCursor<R::Carry>,
        hay: &Hay<'_>,
        eoi: bool,
        out: &mut Vec<Finding>,
    ) -> usize {
        let rule = &self.0;
        let (table, cap, min) = (rule.table(), rule.cap(), rule.min_len());
        let (bytes, base, end) = (hay.bytes(), hay.base(), hay.end());
        let RunCursor {
            at: cur_at,
            start: cur_start,
            mid,
            carry,
        } = cur;
        let mut start = *cur_start;
        // Judges the pieces of a run from `s` that the run goes on past, so
        // at most `cap` bytes from the returned offset are left undecided.
        let step = |s: usize, e: usize, carry: &mut R::Carry, out: &mut Vec<Finding>| {
            let mut s = s;
            while e - s > cap {
                let n = rule.judge_piece(hay.slice(s, s + cap), s, false, carry, out);
                s += n.clamp(1, cap);
            }
            s
        };
        // The run ended at `e`: its pieces, then the rest.
        let judge =
            |s: usize, e: usize, carry: &mut R::Carry, mid: &mut bool, out: &mut Vec<Finding>| {
                let s = step(s, e, carry, out);
                rule.judge_piece(hay.slice(s, e), s, true, carry, out);
                *carry = R::Carry::default();
                *mid = false;
            };
        // Classify 64 bytes at a time into a bit mask and walk the run
        // boundaries with bit tricks: no branch per byte, so prose (a
        // boundary every few bytes) costs no mispredictions per word.
        let mut at = *cur_at;
        while at < end {
            let block = &bytes[at - base..(at + 64).min(end) - base];
            let len = block.len();
            let brk = match R::BREAKS && !block.is_ascii() {
                true => rule.breaks(bytes, at - base, len),
                false => 0,
            };
            let spaced = nonspace_mask(block);
            if brk == 0 && min > 1 && long_runs(spaced, min) == 0 {
                // No stretch of `min` bytes without whitespace (which is never
                // part of a run), so no run inside the block is worth judging:
                // only the run carried in and the run reaching the end
                // matter, and both are short walks from the block's edges.
                //
                // The run carried in ends at the first whitespace at the
                // latest: when that is too soon for it to be judged (most
                // words), it ends unjudged and only the end of the block is
                // looked at.
                let ws = !spaced & low_bits(len);
                if let Some(s) = start
                    && !*mid
                    && ws != 0
                    && at + ws.trailing_zeros() as usize - s < min.min(cap + 1)
                {
                    start = None;
                }
                if start.is_none() {
                    // A run reaches the end only if the last byte is in one.
                    if table[usize::from(block[len - 1])] {
                        start = Some(match block.iter().rposition(|&b| !table[usize::from(b)]) {
                            Some(last) => at + last + 1,
                            None => at,
                        });
                    }
                    at += len;
                    continue;
                }
                match block.iter().position(|&b| !table[usize::from(b)]) {
                    // All one run (a block too short to hold a whole word).
                    None => {
                        start.get_or_insert(at);
                    }
                    Some(first) => {
                        if let Some(s) = start.take() {
                            judge(s, at + first, carry, mid, out);
                        }
                        let last = block.iter().rposition(|&b| !table[usize::from(b)]);
                        if let Some(last) = last.filter(|&l| l + 1 < len) {
                            start = Some(at + last + 1);
                        }
                    }
                }
                at += len;
                continue;
            }
            let m = block_mask(block, table) & !brk;
            // Most blocks of prose hold no run long enough to judge. Then only
            // the run carried in from the last block (it may end here) and
            // the run reaching the end of this block (it may go on) matter.
            let carried = if start.is_some() {
                m.trailing_ones() as usize
            } else {
                0
            };
            if carried < len && long_runs(m & !low_bits(carried), min) == 0 {
                if let Some(s) = start.take() {
                    judge(s, at + carried, carry, mid, out);
                }
                if (m >> (len - 1)) & 1 == 1 {
                    let tail = (m << (64 - len)).leading_ones() as usize;
                    start = Some(at + len - tail);
                }
                at += len;
                continue;
            }
            let carry_in = u64::from(start.is_some());
            let prev = (m << 1) | carry_in;
            let mut starts = m & !prev;
            let mut ends = !m & prev & low_bits(len);
            while starts | ends != 0 {
                let (ks, ke) = (starts.trailing_zeros(), ends.trailing_zeros());
                if ke < ks {
                    if let Some(s) = start.take() {
                        judge(s, at + ke as usize, carry, mid, out);
                    }
                    ends &= ends - 1;
                } else {
                    start = Some(at + ks as usize);
                    starts &= starts - 1;
                }
            }
            at += len;
        }
        match start {
            Some(s) if eoi => {
                judge(s, end, carry, mid, out);
                start = None;
            }
            Some(s) if end - s > cap => {
                // Judge the pieces the run goes on past now, so at most
                // `cap` bytes wait.
                start = Some(step(s, end, carry, out));
                *mid = true;
            }
            _ => {}
        }
        *cur_at = end;
        *cur_start = start;
        start.unwrap_or(end)
    }

    fn entity(&self, kind: u32) -> &str {
        self.0.entity(kind)
    }

    fn label(&self, kind: u32) -> &str {
        self.0.label(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guardrails::scan::fold::Window;

    /// Reports every run of letters judged, as it was judged.
    struct Letters;

    impl RunRule for Letters {
        type Carry = ();
        fn table(&self) -> &[bool; 256] {
            static T: std::sync::LazyLock<[bool; 256]> =
                std::sync::LazyLock::new(|| table(|b| b.is_ascii_alphabetic()));
            &T
        }
        fn cap(&self) -> usize {
            40
        }
        fn min_len(&self) -> usize {
            6
        }
        fn judge(&self, run: &[u8], start: usize, out: &mut Vec<Finding>) {
            out.push(Finding {
                start,
                end: start + run.len(),
                kind: 0,
            });
        }
        fn entity(&self, _kind: u32) -> &str {
            "run"
        }
        fn label(&self, _kind: u32) -> &str {
            "RUN"
        }
    }

    /// Runs judged over `text` fed in pieces of `chunk` bytes.
    fn judged(text: &str, chunk: usize) -> Vec<(usize, usize)> {
        let det = RunDetector(Letters);
        let mut cur = det.cursor();
        let mut win = Window::new(Fold::Exact);
        let mut out = Vec::new();
        let bytes = text.as_bytes();
        let mut at = 0;
        while at < bytes.len() {
            let end = (at + chunk).min(bytes.len());
            win.append(&text[at..end]);
            let frontier = det.scan(&mut cur, &Hay::of(&win), end == bytes.len(), &mut out);
            // What is held: the run in progress past its last whole piece.
            let pending = bytes[..end]
                .iter()
                .rposition(|b| !b.is_ascii_alphabetic())
                .map_or(0, |p| p + 1);
            if end < bytes.len() {
                // Pieces the run is known to go on past are judged.
                let held = match end - pending > 40 {
                    true => pending + (end - pending - 1) / 40 * 40,
                    false => pending,
                };
                assert_eq!(frontier, held, "{text:?} at {end}");
            }
            at = end;
        }
        out.iter().map(|f| (f.start, f.end)).collect()
    }

    /// Every run, judged whole: pieces of `cap` bytes, then the rest if at
    /// least `min_len` long.
    fn reference(text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if !bytes[i].is_ascii_alphabetic() {
                i += 1;
                continue;
            }
            let mut e = i;
            while e < bytes.len() && bytes[e].is_ascii_alphabetic() {
                e += 1;
            }
            let mut s = i;
            while e - s > 40 {
                out.push((s, s + 40));
                s += 40;
            }
            if e - s >= 6 {
                out.push((s, e));
            }
            i = e;
        }
        out
    }

    /// Blocks of short words take a shortcut (no run inside can be
    /// judged): runs carried into them and reaching their end, short and
    /// long, at every offset around the 64-byte block edges and under any
    /// chunking, are judged as in the whole text.
    #[test]
    fn runs_across_block_edges_are_judged_as_whole() {
        for lead in 50..70 {
            for (a, b) in [(3, 3), (5, 2), (6, 1), (7, 9), (12, 3), (45, 4), (2, 45)] {
                let text = format!(
                    "{} {} ab, cd {} ef,{}",
                    "x".repeat(lead),
                    "y".repeat(a),
                    "z".repeat(b),
                    "w".repeat(a + b)
                );
                let text = format!("{text} {text}");
                let want = reference(&text);
                for chunk in [1, 7, 63, 64, 65, 1000] {
                    assert_eq!(judged(&text, chunk), want, "{text:?} in chunks of {chunk}");
                }
            }
        }
    }

    #[test]
    fn gather_high_takes_bit_i_from_byte_i() {
        for i in 0..8 {
            assert_eq!(gather_high(0x80 << (8 * i)), 1 << i);
        }
        for x in [0u64, u64::MAX, 0x8000_8080_0000_8000, 0x0080_0000_8000_0080] {
            let flags = x & 0x8080_8080_8080_8080;
            let want = (0..8).fold(0u8, |b, i| b | (((flags >> (8 * i + 7)) & 1) as u8) << i);
            assert_eq!(gather_high(flags), want, "{flags:#x}");
        }
    }

    #[test]
    fn long_runs_finds_run_starts() {
        assert_eq!(long_runs(0b0111_0110, 3), 0b0001_0000);
        assert_eq!(long_runs(0b0111_0110, 2), 0b0011_0010);
        assert_eq!(long_runs(0b0111_0110, 4), 0);
        assert_eq!(long_runs(1 << 63, 5), 0);
        assert_eq!(long_runs(u64::MAX, 64), 1);
        assert_eq!(long_runs(u64::MAX, 65), 0);
        assert_eq!(low_bits(3), 0b111);
        assert_eq!(block_mask(b"a b", &table(|b| b != b' ')), 0b101);
        let spaces = table(|b| !(0x01..=0x20).contains(&b));
        let bytes: Vec<u8> = (0..=255u8).collect();
        for block in bytes
            .chunks(64)
            .chain([&bytes[3..50], &bytes[1..12], &b"a b\tc"[..]])
        {
            assert_eq!(
                nonspace_mask(block),
                block_mask(block, &spaces),
                "{block:?}"
            );
        }
    }
}
