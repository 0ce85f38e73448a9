//! Explicit bidi overrides: which text a reader sees in reverse.
//!
//! Between RIGHT-TO-LEFT OVERRIDE (U+202E) and its POP DIRECTIONAL
//! FORMATTING (U+202C), or the end of the paragraph, every character is
//! displayed right to left: `\u{202E}emca\u{202C}` shows `acme`. This
//! follows the explicit rules of the Unicode Bidirectional Algorithm (X1 to
//! X8): embeddings (U+202A, U+202B), overrides (U+202D, U+202E) and
//! isolates (U+2066 to U+2068) nest, PDF (U+202C) closes the innermost
//! embedding or override inside the innermost isolate, PDI (U+2069) closes
//! the innermost isolate and all that is open inside it, a paragraph
//! separator closes everything, and nesting deeper than [`MAX_DEPTH`] is
//! ignored (with its closers), so the state is bounded whatever the input.
//!
//! Text is *reversed* where the innermost entry is an RTL override. Only
//! that is modelled: an embedding or an isolate does not reorder the
//! letters of a left-to-right script, and the implicit reordering of
//! right-to-left letters (Hebrew, Arabic) and of the neutrals between them
//! is not modelled (text outside explicit RTL overrides is read in logical
//! order).

/// The deepest nesting of embeddings, overrides and isolates followed (the
/// bidi algorithm's `max_depth`).
pub(crate) const MAX_DEPTH: usize = 125;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// LRE or RLE, or an LTR override (LRO): letters keep their order.
    Ordered,
    /// RLO.
    RtlOverride,
    /// LRI, RLI or FSI.
    Isolate,
}

/// Whether `c` can change the state of [`Overrides`]: an explicit
/// directional formatting character or a paragraph separator.
pub(crate) fn is_control(c: char) -> bool {
    is_explicit(c) || is_paragraph_end(c)
}

/// Whether `c` is an explicit embedding, override or isolate control, or
/// their terminator (U+202A..U+202E, U+2066..U+2069).
pub(crate) fn is_explicit(c: char) -> bool {
    matches!(c as u32, 0x202A..=0x202E | 0x2066..=0x2069)
}

/// Whether `c` ends a paragraph (bidi class B).
pub(crate) fn is_paragraph_end(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{1C}'..='\u{1E}' | '\u{85}' | '\u{2029}')
}

/// The explicit embedding state of one stream.
#[derive(Debug, Default)]
pub(crate) struct Overrides {
    stack: Vec<Entry>,
    /// Isolates and embeddings opened past [`MAX_DEPTH`].
    overflow_isolates: usize,
    overflow_embeddings: usize,
}

impl Overrides {
    /// Whether anything is open (so a paragraph end would change the state).
    pub(crate) fn is_open(&self) -> bool {
        !self.stack.is_empty() || self.overflow_isolates > 0 || self.overflow_embeddings > 0
    }

    /// Whether text here is displayed reversed.
    pub(crate) fn reversed(&self) -> bool {
        self.stack.last() == Some(&Entry::RtlOverride)
    }

    /// Applies the control or paragraph separator `c` (anything else is
    /// ignored).
    pub(crate) fn apply(&mut self, c: char) {
        let room = self.stack.len() < MAX_DEPTH
            && self.overflow_isolates == 0
            && self.overflow_embeddings == 0;
        match c {
            '\u{202A}' | '\u{202B}' | '\u{202D}' | '\u{202E}' => {
                let entry = match c {
                    '\u{202E}' => Entry::RtlOverride,
                    _ => Entry::Ordered,
                };
                if room {
                    self.stack.push(entry);
                } else if self.overflow_isolates == 0 {
                    self.overflow_embeddings += 1;
                }
            }
            '\u{2066}'..='\u{2068}' => {
                if room {
                    self.stack.push(Entry::Isolate);
                } else {
                    self.overflow_isolates += 1;
                }
            }
            '\u{2069}' => {
                if self.overflow_isolates > 0 {
                    self.overflow_isolates -= 1;
                } else if let Some(i) = self.stack.iter().rposition(|&e| e == Entry::Isolate) {
                    self.overflow_embeddings = 0;
                    self.stack.truncate(i);
                }
            }
            '\u{202C}' if self.overflow_isolates == 0 => {
                if self.overflow_embeddings > 0 {
                    self.overflow_embeddings -= 1;
                } else if self.stack.last().is_some_and(|&e| e != Entry::Isolate) {
                    self.stack.pop();
                }
            }
            c if is_paragraph_end(c) => *self = Self::default(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reversed_after(controls: &str) -> bool {
        let mut o = Overrides::default();
        controls.chars().for_each(|c| o.apply(c));
        o.reversed()
    }

    #[test]
    fn follows_nesting_and_closers() {
        assert!(reversed_after("\u{202E}"));
        assert!(!reversed_after("\u{202E}\u{202C}"));
        assert!(!reversed_after("\u{202B}"));
        assert!(!reversed_after("\u{202E}\u{202D}"));
        assert!(reversed_after("\u{202E}\u{202D}\u{202C}"));
        assert!(reversed_after("\u{2067}\u{202E}"));
        // PDF does not close an isolate; PDI closes what is open inside one.
        assert!(!reversed_after("\u{202E}\u{2066}\u{202C}"));
        assert!(reversed_after("\u{202E}\u{2066}\u{202C}\u{2069}"));
        assert!(!reversed_after("\u{2066}\u{202E}\u{2069}"));
        // A stray PDF or PDI changes nothing; a paragraph end closes all.
        assert!(reversed_after("\u{202C}\u{2069}\u{202E}"));
        assert!(!reversed_after("\u{202E}\n"));
        assert!(!reversed_after("\u{202E}\u{2029}"));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut o = Overrides::default();
        for _ in 0..10_000 {
            o.apply('\u{202B}');
        }
        assert_eq!(o.stack.len(), MAX_DEPTH);
        // Overflowed openers are matched by their own closers first.
        o.apply('\u{202E}');
        assert!(!o.reversed());
        for _ in 0..10_000 - MAX_DEPTH + 1 {
            o.apply('\u{202C}');
        }
        assert_eq!(o.stack.len(), MAX_DEPTH);
        o.apply('\u{202C}');
        o.apply('\u{202E}');
        assert!(o.reversed());
    }
}
