//! What a non-ASCII character reads as in ASCII, for the keyword fold
//! ([`Fold::Visual`](super::fold::Fold::Visual)).
//!
//! The data is Unicode's confusables (UTS #39), through the skeleton
//! function of `unicode-security`: two strings look alike when their
//! skeletons are equal. The keyword matcher reads ASCII as written (and
//! folds ASCII case itself), so a look-alike is folded to the ASCII
//! character whose skeleton it shares, not to the skeleton itself: Cyrillic
//! `а` and Greek `α` read as `a`, Cyrillic `с` as `c`, `ɱ` (whose skeleton is
//! `rn`, the skeleton of `m`) as `m`.
//!
//! - Several ASCII characters share a skeleton (`l`, `I`, `1` and `|` all
//!   have `l`; `O` and `0` have `O`): a capital letter reads as the capital
//!   (`І` as `I`, so as `i`), any other character as the lowercase letter
//!   (`ӏ` as `l`, Cyrillic `о` as `o`), never as a digit.
//! - A skeleton of several ASCII characters that is no one character's
//!   (`æ`'s `ae`) reads as those characters.
//! - Matching is case-insensitive, so a letter with no reading of its own
//!   takes the reading of its other case: Cyrillic `м` (whose skeleton is
//!   not Latin) reads as `m` because `М` does.
//! - Where both cases have readings and they differ (Greek `Η`/`η` read as
//!   `h`/`n`, `Ν`/`ν` as `n`/`v`, `Υ`/`υ` as `y`/`u`, Cyrillic `Б`/`б` as
//!   `b`/`6`, `Ӏ`/`ӏ` as `i`/`l`), each case reads as what it looks like;
//!   a configured term with such letters is matched in both cases by
//!   compiling its spellings (see `keywords`).
//! - Combining marks get no reading (they are kept, or dropped by the fold:
//!   see [`is_folded_mark`]), nor do characters whose skeleton is not ASCII:
//!   look-alikes between two non-Latin scripts are not folded together.
//!
//! ASCII itself is never folded: `rn` does not read as `m`, `0` not as `O`,
//! `1` not as `l` (see [`Keywords`](crate::guardrails::Keywords)).

use std::collections::HashMap;
use std::sync::LazyLock;

use unicode_normalization::char::is_combining_mark;
use unicode_security::skeleton;

/// Whether `c` is a combining mark the keyword fold drops: the generic
/// diacritics of the Combining Diacritical Marks blocks (`U+0300..U+036F`,
/// Extended `U+1AB0..U+1AFF`, Supplement `U+1DC0..U+1DFF`, for Symbols
/// `U+20D0..U+20FF`, Half Marks `U+FE20..U+FE2F`) and the Cyrillic ones
/// (`U+0483..U+0489`). These are the accents of Latin, Greek and Cyrillic
/// letters after decomposition, and what stacked-mark ("Zalgo") text is
/// made of. The marks of other scripts (Devanagari vowel signs, Hebrew
/// points, Arabic harakat, kana voicing marks) spell different letters and
/// are kept.
pub(crate) fn is_folded_mark(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x0483..=0x0489 | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF
        | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// The skeletons of printable ASCII characters that are not their own
/// (`0` → `O`, `1`/`I`/`|` → `l`, `m` → `rn`, `"` → `''`, ...), with the
/// characters that have each, and every other printable ASCII character
/// under its own skeleton.
static ASCII_SKELETONS: LazyLock<HashMap<String, Vec<char>>> = LazyLock::new(|| {
    let mut map: HashMap<String, Vec<char>> = HashMap::new();
    for c in (0x21u8..0x7F).map(char::from) {
        map.entry(skeleton_of(c)).or_default().push(c);
    }
    map
});

/// The UTS #39 skeleton of `c`, folded marks left out.
fn skeleton_of(c: char) -> String {
    skeleton(c.encode_utf8(&mut [0; 4]))
        .filter(|&d| !is_folded_mark(d))
        .collect()
}

/// The ASCII reading of `c` by its own skeleton, lowercased.
fn own_reading(c: char) -> Option<String> {
    let sk = skeleton_of(c);
    if sk.is_empty() || sk.chars().eq(std::iter::once(c)) {
        return None;
    }
    if let Some(ascii) = ASCII_SKELETONS.get(&sk) {
        let upper = c.is_uppercase();
        let pick = ascii
            .iter()
            .find(|a| a.is_ascii_alphabetic() && a.is_ascii_uppercase() == upper)
            .or_else(|| ascii.iter().find(|a| a.is_ascii_alphabetic()))
            .or_else(|| ascii.iter().find(|a| !a.is_ascii_digit()))
            .or(ascii.first())?;
        return Some(pick.to_ascii_lowercase().to_string());
    }
    sk.is_ascii().then(|| sk.to_ascii_lowercase())
}

/// The one character `it` yields, if it yields exactly one.
pub(crate) fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
    let first = it.next()?;
    it.next().is_none().then_some(first)
}

/// `c`'s other cases, where each is one character.
fn other_cases(c: char) -> impl Iterator<Item = char> {
    [single(c.to_lowercase()), single(c.to_uppercase())]
        .into_iter()
        .flatten()
        .filter(move |&o| o != c)
}

/// The ASCII that the non-ASCII character `c` (already decomposed) reads
/// as, lowercased, if it looks like ASCII in either case.
pub(crate) fn ascii_reading(c: char) -> Option<String> {
    if c.is_ascii() || is_combining_mark(c) {
        return None;
    }
    own_reading(c).or_else(|| {
        other_cases(c).find_map(|o| match o.is_ascii() {
            true => Some(o.to_ascii_lowercase().to_string()),
            false => own_reading(o),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(c: char) -> Option<String> {
        ascii_reading(c)
    }

    #[test]
    fn greek_and_cyrillic_letters_read_as_latin() {
        for (c, r) in [
            ('а', "a"),
            ('А', "a"),
            ('с', "c"),
            ('С', "c"),
            ('е', "e"),
            ('о', "o"),
            ('р', "p"),
            ('х', "x"),
            ('м', "m"),
            ('М', "m"),
            ('Α', "a"),
            ('α', "a"),
            ('Μ', "m"),
            ('Ε', "e"),
            ('ε', "e"),
            ('ο', "o"),
            ('Ϲ', "c"),
            ('І', "i"),
            ('і', "i"),
            ('ӏ', "l"),
            ('ɱ', "m"),
            ('æ', "ae"),
        ] {
            assert_eq!(read(c).as_deref(), Some(r), "{c:?}");
        }
        // Both cases look Latin, each like another letter.
        assert_eq!(read('Ν').as_deref(), Some("n"));
        assert_eq!(read('ν').as_deref(), Some("v"));
        assert_eq!(read('Η').as_deref(), Some("h"));
        assert_eq!(read('η').as_deref(), Some("n"));
    }

    #[test]
    fn marks_ascii_and_unlike_letters_have_no_reading() {
        for c in ['a', 'M', '\u{301}', 'ж', 'ß', '日', 'ש', '—'] {
            assert_eq!(read(c), None, "{c:?}");
        }
        assert!(is_folded_mark('\u{301}') && is_folded_mark('\u{20DD}'));
        assert!(!is_folded_mark('\u{3099}') && !is_folded_mark('\u{93F}'));
    }
}
