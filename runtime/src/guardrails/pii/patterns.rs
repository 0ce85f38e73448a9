//! The built-in PII patterns and their checksums.
//!
//! Patterns are byte regexes over folded text (ASCII classes, ASCII `\b`):
//! a DFA cannot do Unicode word boundaries, and folding has already turned
//! fullwidth digits and letters into ASCII. E-mail classes also accept any
//! non-ASCII byte so internationalised addresses are found whole.
//!
//! They are written so the combined forward DFA stays small (about 300 KB):
//! card numbers are matched as contiguous runs or the usual 4-4-4-4(-3) and
//! 4-6-5 groupings instead of "any digit with any separator", which makes the
//! DFA count separators and blow up; IBANs as a contiguous run or groups of
//! four. Order is priority: at one start position the first pattern wins.
//! A match that fails its checksum is dropped (not masked), like a regex
//! match filtered afterwards. A check may also keep only the front of a
//! match: a phone number followed by another number (`+44 20 7946 0958
//! 2024`) is greedily matched as one; its check keeps the longest front, in
//! whole groups, that has at most 15 digits.

use std::net::Ipv6Addr;

/// A built-in pattern: its entity, regex, and the check a match must pass.
pub(super) struct Builtin {
    pub(super) entity: super::PiiEntity,
    pub(super) regex: &'static str,
    pub(super) valid: Validator,
}

/// Checks a match; returns how many of its bytes (from its start) are the
/// finding, or `None` to drop it.
pub(super) type Validator = fn(&[u8]) -> Option<usize>;

/// Accepts every match whole.
pub(super) fn any(m: &[u8]) -> Option<usize> {
    Some(m.len())
}

/// Accepts the match whole when `ok`.
fn whole(m: &[u8], ok: bool) -> Option<usize> {
    ok.then_some(m.len())
}

/// IPv6: hex groups joined by `:` or `::`. Written loosely (a DFA keeps
/// leftmost-first semantics, so an alternation of the exact grammar would stop
/// at the first alternative that fits, `2001:db8::` of `2001:db8::1`);
/// greedy repetition takes the whole address and the check parses it.
/// Forms that begin with `::` are not matched.
const IPV6: &str = r"\b[0-9A-Fa-f]{1,4}(?::{1,2}[0-9A-Fa-f]{0,4}){1,7}";

/// The built-in patterns, in priority order.
pub(super) fn builtins() -> Vec<Builtin> {
    use super::PiiEntity as E;
    vec![
        Builtin {
            entity: E::EmailAddress,
            regex: r"[A-Za-z0-9._%+\-\x80-\xFF]+@[A-Za-z0-9\-\x80-\xFF]+(?:\.[A-Za-z0-9\-\x80-\xFF]+)*\.[A-Za-z\x80-\xFF]{2,}",
            valid: any,
        },
        Builtin {
            entity: E::CreditCard,
            regex: r"\b[0-9]{4}[ \-][0-9]{4}[ \-][0-9]{4}[ \-][0-9]{1,7}\b|\b[0-9]{4}[ \-][0-9]{6}[ \-][0-9]{4,5}\b|\b[0-9]{13,19}\b",
            valid: |m| whole(m, valid_card(m)),
        },
        Builtin {
            entity: E::IbanCode,
            regex: r"\b[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)\b",
            valid: |m| whole(m, valid_iban(m)),
        },
        Builtin {
            entity: E::UsSsn,
            regex: r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b|\b[0-9]{3} [0-9]{2} [0-9]{4}\b",
            valid: |m| whole(m, valid_ssn(m)),
        },
        Builtin {
            entity: E::IpAddress,
            regex: r"\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\b",
            valid: any,
        },
        Builtin {
            entity: E::IpAddress,
            regex: IPV6,
            valid: valid_ipv6,
        },
        Builtin {
            entity: E::PhoneNumber,
            regex: r"(?:\+[0-9]{1,3}[ .\-]?)?\([0-9]{2,4}\)[ .\-]?[0-9]{3,4}[ .\-]?[0-9]{3,4}\b|\+[0-9]{1,3}(?:[ .\-][0-9]{1,7}){2,5}\b|\b[0-9]{3}[ .\-][0-9]{3}[ .\-][0-9]{4}\b",
            valid: valid_phone,
        },
    ]
}

fn digits(m: &[u8]) -> impl Iterator<Item = u32> + '_ {
    m.iter()
        .filter(|b| b.is_ascii_digit())
        .map(|b| u32::from(b - b'0'))
}

/// 13 to 19 digits, not all the same, passing the Luhn checksum.
pub(super) fn valid_card(m: &[u8]) -> bool {
    let ds: Vec<u32> = digits(m).collect();
    if !(13..=19).contains(&ds.len()) || ds.iter().all(|&d| d == ds[0]) {
        return false;
    }
    let sum: u32 = ds
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| match (i % 2 == 1, d * 2) {
            (true, dd) if dd > 9 => dd - 9,
            (true, dd) => dd,
            (false, _) => d,
        })
        .sum();
    sum.is_multiple_of(10)
}

/// 15 to 34 characters whose ISO 13616 mod-97 checksum is 1.
pub(super) fn valid_iban(m: &[u8]) -> bool {
    let s: Vec<u8> = m.iter().copied().filter(|&b| b != b' ').collect();
    if !(15..=34).contains(&s.len()) {
        return false;
    }
    // Move the country code and check digits to the end, read letters as
    // 10..35, and reduce mod 97 as we go (the number is up to 68 digits).
    let mut rem: u32 = 0;
    for &b in s[4..].iter().chain(&s[..4]) {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// Area not 000, 666 or 9xx; group not 00; serial not 0000.
pub(super) fn valid_ssn(m: &[u8]) -> bool {
    let ds: Vec<u32> = digits(m).collect();
    if ds.len() != 9 {
        return false;
    }
    let area = ds[0] * 100 + ds[1] * 10 + ds[2];
    let group = ds[3] * 10 + ds[4];
    let serial = ds[5..].iter().fold(0, |n, d| n * 10 + d);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// Parses as IPv6 (a trailing `:` of the match, as in `fe80::1:` ending a
/// clause, is left out), and is not too short to tell from code (`a::b`;
/// `std::io` never reaches here, `de::ad` does): at least three hex digits.
pub(super) fn valid_ipv6(m: &[u8]) -> Option<usize> {
    let s = std::str::from_utf8(m).ok()?;
    let ok = |t: &str| {
        t.parse::<Ipv6Addr>().is_ok() && t.bytes().filter(u8::is_ascii_hexdigit).count() >= 3
    };
    if ok(s) {
        return Some(s.len());
    }
    let t = s.trim_end_matches(':');
    (t.len() < s.len() && ok(t)).then_some(t.len())
}

/// 7 to 15 digits (E.164 allows at most 15): the whole match, or its
/// longest front ending at a group boundary that has that many.
pub(super) fn valid_phone(m: &[u8]) -> Option<usize> {
    let mut count = 0;
    let mut best = None;
    for (i, &b) in m.iter().enumerate() {
        if b.is_ascii_digit() {
            count += 1;
            let group_end = m.get(i + 1).is_none_or(|n| !n.is_ascii_digit());
            if group_end && (7..=15).contains(&count) {
                best = Some(i + 1);
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn() {
        assert!(valid_card(b"4111 1111 1111 1111"));
        assert!(valid_card(b"5500-0000-0000-0004"));
        assert!(valid_card(b"378282246310005"));
        assert!(!valid_card(b"4111 1111 1111 1112"));
        assert!(!valid_card(b"0000000000000000"));
        assert!(!valid_card(b"411111111111"));
    }

    #[test]
    fn iban_mod97() {
        assert!(valid_iban(b"GB82WEST12345698765432"));
        assert!(valid_iban(b"GB82 WEST 1234 5698 7654 32"));
        assert!(valid_iban(b"DE89370400440532013000"));
        assert!(!valid_iban(b"GB82WEST12345698765433"));
        assert!(!valid_iban(b"GB82"));
    }

    #[test]
    fn ssn_rules() {
        assert!(valid_ssn(b"123-45-6789"));
        assert!(!valid_ssn(b"000-45-6789"));
        assert!(!valid_ssn(b"666-45-6789"));
        assert!(!valid_ssn(b"912-45-6789"));
        assert!(!valid_ssn(b"123-00-6789"));
        assert!(!valid_ssn(b"123-45-0000"));
    }

    #[test]
    fn ipv6_and_phone() {
        assert_eq!(valid_ipv6(b"2001:db8::1"), Some(11));
        assert_eq!(valid_ipv6(b"fe80::1:"), Some(7));
        assert_eq!(valid_ipv6(b"a::b"), None);
        assert_eq!(valid_ipv6(b"1:2:3"), None);
        assert_eq!(valid_phone(b"+1 (555) 123-4567"), Some(17));
        assert_eq!(valid_phone(b"+1 2"), None);
        assert_eq!(valid_phone(b"+44 20 7946 0958 2024"), Some(16));
    }
}
