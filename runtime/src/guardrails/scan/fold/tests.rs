use super::*;

#[test]
fn folds_fullwidth_ligatures_and_zero_width() {
    assert_eq!(fold_str("ＡＣＭＥ", Fold::Visual), "acme");
    assert_eq!(fold_str("ＡＣＭＥ", Fold::Exact), "ACME");
    assert_eq!(
        fold_str("ac\u{200B}m\u{200D}e\u{FEFF}", Fold::Exact),
        "acme"
    );
    assert_eq!(fold_str("ﬁle", Fold::Exact), "file");
    assert_eq!(fold_str("É", Fold::Visual), "e");
    assert_eq!(fold_str("É", Fold::Exact), "E\u{301}");
    assert_eq!(
        fold_str("é", Fold::Visual),
        fold_str("e\u{301}", Fold::Visual)
    );
}

#[test]
fn visual_fold_reads_look_alikes_and_drops_marks() {
    for (text, folded) in [
        ("Асme", "acme"),
        ("ΑСΜΕ", "acme"),
        ("асме", "acme"),
        ("𝐚𝐜𝐦𝐞", "acme"),
        ("ac\u{301}\u{302}\u{20DD}me", "acme"),
        ("Глобекс", "rлo6ekc"),
        ("日本語", "日本語"),
        ("が", "か\u{3099}"),
    ] {
        assert_eq!(fold_str(text, Fold::Visual), folded, "{text:?}");
    }
    // Exact mode is not touched: look-alikes and marks stay.
    assert_eq!(fold_str("Ас\u{301}", Fold::Exact), "Ас\u{301}");
}

/// Every character of the first two planes folds through its block as
/// computed, in both modes.
#[test]
fn block_cache_matches_the_computed_fold() {
    for mode in [Fold::Exact, Fold::Visual] {
        for c in (0x80..0x20000).step_by(7).filter_map(char::from_u32) {
            let (mut cached, mut computed) = (Vec::new(), Vec::new());
            fold_char(c, mode, &mut cached);
            fold_uncached(c, mode, &mut computed);
            assert_eq!(cached, computed, "{c:?}");
        }
    }
}

/// Reversed runs, in folded offsets, whatever the chunking: opened by
/// RLO, closed by PDF or a line break, split by a nested override, and
/// folds of several characters reversed inside them.
#[test]
fn tracks_reversed_runs() {
    let text = "ab\u{202E}cd\u{202D}e\u{202C}æ\u{202C}f\u{202E}g\nh\u{202E}i";
    for chunk in [1, 2, 3, 100] {
        let mut w = Window::new(Fold::Visual);
        let chars: Vec<char> = text.chars().collect();
        for piece in chars.chunks(chunk) {
            w.append(&piece.iter().collect::<String>());
        }
        assert_eq!(w.folded(), b"abcdeeafg\nhi", "chunks of {chunk}");
        let runs: Vec<(usize, Option<usize>)> = w.runs().iter().map(|r| (r.start, r.end)).collect();
        assert_eq!(runs, [(2, Some(4)), (5, Some(7)), (8, Some(9)), (11, None)]);
    }
    // Exact mode tracks nothing.
    let mut w = Window::new(Fold::Exact);
    w.append(text);
    assert!(w.runs().is_empty());
}

/// The fold is found 64 bytes at a time: non-ASCII characters at, just
/// before and across block edges, ASCII runs spanning blocks, and
/// several characters in a row must fold and map as one character at a
/// time would, whatever the chunking.
#[test]
fn folds_across_block_edges() {
    let pieces = ["é", "Ａ", "\u{200B}", "𝐀", "—", "ﬁ", "ü"];
    for pad in [0, 1, 7, 8, 61, 62, 63, 64, 65, 127, 128, 200] {
        for p in pieces {
            for q in pieces {
                let text = format!("{}{p}{q}{}{p}x", "a".repeat(pad), "b".repeat(pad));
                for chunk in [1, 5, 64, 1000] {
                    let mut w = Window::new(Fold::Visual);
                    let mut start = 0;
                    while start < text.len() {
                        let mut end = (start + chunk).min(text.len());
                        while !text.is_char_boundary(end) {
                            end += 1;
                        }
                        w.append(&text[start..end]);
                        start = end;
                    }
                    assert_eq!(
                        w.folded(),
                        fold_str(&text, Fold::Visual).as_bytes(),
                        "{text:?} in chunks of {chunk}"
                    );
                    // Every folded offset maps to whole characters, as
                    // folding one character at a time gives: a match
                    // starting at `f` starts with the first character
                    // ending after `f` or folding to nothing at `f`, one
                    // ending at `f` ends with the last character starting
                    // before `f` or folding to nothing at `f`.
                    let mut chars = Vec::new();
                    let mut f = 0;
                    for (o, c) in text.char_indices() {
                        let len = fold_str(c.encode_utf8(&mut [0; 4]), Fold::Visual).len();
                        chars.push((f, f + len, o, o + c.len_utf8()));
                        f += len;
                    }
                    for f in 0..=w.fold_end() {
                        let at = |fs: usize, fe: usize| fs == f && fe == f;
                        let down = chars
                            .iter()
                            .find(|&&(fs, fe, ..)| fe > f || at(fs, fe))
                            .map_or(text.len(), |c| c.2);
                        let up = chars
                            .iter()
                            .rev()
                            .find(|&&(fs, fe, ..)| fs < f || at(fs, fe))
                            .map_or(0, |c| c.3);
                        assert_eq!(w.down(f), down, "{text:?} down({f})");
                        assert_eq!(w.up(f), up, "{text:?} up({f})");
                    }
                    assert_eq!(w.orig(), text);
                }
            }
        }
    }
}

#[test]
fn ascii_prefix_counts_ascii_bytes() {
    assert_eq!(ascii_prefix(b""), 0);
    assert_eq!(ascii_prefix(b"abc"), 3);
    assert_eq!(ascii_prefix("0123456789abcdefé".as_bytes()), 16);
    assert_eq!(ascii_prefix("01234é".as_bytes()), 5);
    // The first non-ASCII byte at every place in a word and after it.
    for at in 0..20 {
        let mut bytes = vec![b'a'; 20];
        bytes[at] = 0xC3;
        if at + 1 < 20 {
            bytes[at + 1] = 0x80;
        }
        assert_eq!(ascii_prefix(&bytes), at);
    }
}

#[test]
fn word_chars_include_marks() {
    assert!(is_word_char('a'));
    assert!(is_word_char('_'));
    assert!(is_word_char('\u{301}'));
    assert!(is_word_char('ж'));
    assert!(!is_word_char(' '));
    assert!(!is_word_char('-'));
    // The cached ranges and the edges around them answer as computed.
    for c in (0..0x400).chain(0x1FF0..0x2080).filter_map(char::from_u32) {
        assert_eq!(is_word_char(c), word_char_uncached(c), "{c:?}");
    }
}

#[test]
fn maps_folded_offsets_to_whole_original_chars() {
    let mut w = Window::new(Fold::Visual);
    // "x" + fullwidth "Ａ" (3 bytes, folds to "a") + ZWSP (3 bytes, folds
    // to nothing) + "b"
    w.append("xＡ\u{200B}b");
    assert_eq!(w.folded(), b"xab");
    assert_eq!(w.down(1), 1);
    assert_eq!(w.up(1), 1);
    // The ignorable sits at folded offset 2: a match starting there
    // includes it, a match ending there includes it too.
    assert_eq!(w.down(2), 4);
    assert_eq!(w.up(2), 7);
    assert_eq!(w.up(3), 8);
    assert_eq!(w.down(3), 8);
    w.consume(4, 1);
    assert_eq!(w.orig(), "\u{200B}b");
    assert_eq!(w.down(2), 4);
    assert_eq!(w.up(3), 8);
    w.consume(8, 3);
    w.append("cＢ");
    assert_eq!(w.down(3), 8);
    assert_eq!(w.down(4), 9);
    assert_eq!(w.up(5), 12);
}

#[test]
fn sheds_ignorables_without_moving_folded_offsets() {
    let zw = "\u{200B}";
    let mut w = Window::new(Fold::Visual);
    // Two ignorables before everything held, then "aＢ" with three
    // ignorables inside it and two after it.
    let text = format!("{zw}{zw}a{zw}Ｂ{zw}{zw}c{zw}{zw}");
    w.append(&text);
    assert_eq!(w.ignorable(), 21);
    assert_eq!(w.folded(), b"abc");
    let mut out = String::new();
    // Within budget once they are gone: only the leading ones go.
    w.shed_ignorable(&mut out, 15);
    assert_eq!(out, format!("{zw}{zw}"));
    assert_eq!(w.orig(), &text[6..]);
    assert_eq!(w.ignorable(), 15);
    // Over budget: the first two inside are kept, the rest dropped.
    out.clear();
    w.shed_ignorable(&mut out, 6);
    assert_eq!(out, "");
    assert_eq!(w.orig(), format!("a{zw}Ｂ{zw}c"));
    assert_eq!(w.ignorable(), 6);
    assert_eq!(w.folded(), b"abc");
    assert_eq!(w.orig_end(), 17);
    // Folded offsets map to the kept text: "Ｂ" is 10..13 (a match
    // starting there takes the ignorable before it), "c" is 16..17.
    assert_eq!(w.down(1), 7);
    assert_eq!(w.up(2), 16);
    assert_eq!(w.down(2), 13);
    assert_eq!(w.up(3), 17);
    // Appending goes on from the new end.
    w.append("Ｄ");
    assert_eq!(w.down(3), 17);
    assert_eq!(w.up(4), 20);
    w.consume(20, 4);
    assert_eq!(w.orig(), "");
    assert_eq!(w.ignorable(), 0);
}
