//! Word-start tables and the start filter that lets the matcher skip
//! blocks of text where no term can begin.

use super::*;

/// ASCII word bytes.
pub(super) static WORD: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'_';
        b += 1;
    }
    t
};

/// Bits in each first-bytes filter.
pub(super) const FILTER_BITS: usize = 1 << 15;

/// The filter slot of the first four (or three) bytes of a term or a word,
/// read as a little-endian number. Setting bit 5 of each byte lowercases
/// ASCII letters as the DFA's case folding does; other bytes may collide
/// with their bit-5 twin, which only costs a walk that dies.
pub(super) fn slot(x: u32) -> usize {
    ((x | 0x2020_2020).wrapping_mul(0x9E37_79B1) >> 17) as usize % FILTER_BITS
}

/// Which word starts can begin a term: those whose first four bytes are in
/// the filter of terms' first four bytes, or whose first three are in the
/// filter of three-byte terms, or whose first byte begins a shorter term.
/// The filters are 4 KB each, so they stay in cache while the DFA, whose
/// rows for a thousand terms do not, is touched only for likely starts.
pub(super) struct StartFilter {
    pub(super) quad: Vec<u64>,
    pub(super) tri: Option<Vec<u64>>,
    pub(super) short: Option<[bool; 256]>,
}

pub(super) fn set(bits: &mut [u64], i: usize) {
    bits[i / 64] |= 1 << (i % 64);
}

pub(super) fn get(bits: &[u64], i: usize) -> bool {
    bits[i / 64] & (1 << (i % 64)) != 0
}

impl StartFilter {
    pub(super) fn new<'a>(terms: impl Iterator<Item = &'a [u8]>) -> Self {
        let mut quad = vec![0; FILTER_BITS / 64];
        let mut tri = None;
        let mut short = None;
        for t in terms {
            match *t {
                [a, b, c, d, ..] => set(&mut quad, slot(u32::from_le_bytes([a, b, c, d]))),
                [a, b, c] => set(
                    tri.get_or_insert_with(|| vec![0; FILTER_BITS / 64]),
                    slot(u32::from_le_bytes([a, b, c, 0])),
                ),
                [a, ..] => {
                    let s = short.get_or_insert([false; 256]);
                    s[usize::from(a.to_ascii_lowercase())] = true;
                    s[usize::from(a.to_ascii_uppercase())] = true;
                }
                [] => {}
            }
        }
        Self { quad, tri, short }
    }

    /// Whether a walk from `at` could match; `true` when too few bytes are
    /// held to tell.
    pub(super) fn admits(&self, bytes: &[u8], at: usize) -> bool {
        let Some(&[a, b, c, d]) = bytes.get(at..at + 4) else {
            return true;
        };
        let x = u32::from_le_bytes([a, b, c, d]);
        get(&self.quad, slot(x))
            || self
                .tri
                .as_ref()
                .is_some_and(|t| get(t, slot(x & 0x00FF_FFFF)))
            || self.short.as_ref().is_some_and(|s| s[usize::from(a)])
    }
}

/// Bit `k` set when `block[k]` is an ASCII word byte (`[0-9A-Za-z_]`);
/// `block` is at most 64 bytes. Classifies eight bytes at a time with the
/// byte-range tricks of "Bit Twiddling Hacks" (exact for every byte value;
/// bytes of 128 and up are never word bytes here).
pub(super) fn word_mask(block: &[u8]) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const LOW7: u64 = LO * 127;
    // High bit of each byte `b` with `m < b < n` (`b` below 128).
    let between = |x: u64, m: u64, n: u64| {
        ((LO * (127 + n)).wrapping_sub(x & LOW7) & !x & ((x & LOW7) + LO * (127 - m))) & HI
    };
    let mut words = block.chunks_exact(8);
    let mut m = 0u64;
    let mut k = 0;
    for w in &mut words {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let under = x ^ (LO * u64::from(b'_'));
        let under = !(((under & LOW7) + LOW7) | under | LOW7);
        let flags = between(x, 0x2F, 0x3A) | between(x | (LO * 0x20), 0x60, 0x7B) | under;
        // Gather the eight high bits into one byte (bit i from byte i).
        let byte = gather_high(flags);
        m |= u64::from(byte) << k;
        k += 8;
    }
    m | block_mask(words.remainder(), &WORD)
        .checked_shl(k)
        .unwrap_or(0)
}

/// Bytes of non-ASCII characters.
pub(super) static NON_ASCII: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 128;
    while b < 256 {
        t[b] = true;
        b += 1;
    }
    t
};
