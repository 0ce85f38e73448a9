//! Families about the HTTP framing: status, status line, headers,
//! `Retry-After`, lengths, chunked framing, encodings, content types.

use super::{Rng, error_json, good, good_json, good_sse};
use crate::wire::{Length, Wire, resp};

pub(super) fn status(rng: &mut Rng) -> Wire {
    let code = *rng.pick(&[
        100, 101, 103, 199, 200, 201, 202, 204, 206, 299, 300, 301, 304, 307, 400, 401, 403, 404,
        408, 409, 413, 418, 422, 429, 451, 500, 501, 502, 503, 504, 529, 599,
    ]);
    let r = resp(code);
    let r = if (200..300).contains(&code) {
        good(rng, r)
    } else {
        match rng.below(4) {
            0 => r.json(error_json("x")),
            1 => r.body(""),
            2 => r.ct("text/plain").body("plain words"),
            _ => r.sse(good_sse(rng)),
        }
    };
    r.wire(format!("status {code}"))
}

pub(super) fn status_line(rng: &mut Rng) -> Wire {
    let lines: &[&[u8]] = &[
        b"HTTP/1.1 200\r\n",
        b"HTTP/1.1 2000 OK\r\n",
        b"HTTP/1.1 20 OK\r\n",
        b"HTTP/1.1 -200 OK\r\n",
        b"HTTP/1.1 abc OK\r\n",
        b"HTTP/1.1 099 OK\r\n",
        b"HTTP/1.1 600 OK\r\n",
        b"HTTP/1.0 200 OK\r\n",
        b"HTTP/2 200\r\n",
        b"HTTP/9.9 200 OK\r\n",
        b"ICY 200 OK\r\n",
        b"http/1.1 200 ok\r\n",
        b"HTTP/1.1 200 OK\n",
        b"HTTP/1.1  200  OK\r\n",
        b"HTTP/1.1 200 \xff\xfe\x00OK\r\n",
        b"\r\nHTTP/1.1 200 OK\r\n",
    ];
    match rng.below(lines.len() + 4) {
        i if i < lines.len() => {
            let line = lines[i];
            good(rng, resp(200).status_line(line, None))
                .wire(format!("status line {:?}", String::from_utf8_lossy(line)))
        }
        n if n == lines.len() => Wire::raw(Vec::new(), "closed without a byte"),
        n if n == lines.len() + 1 => {
            Wire::raw(b"HTTP/1.1 200 OK".to_vec(), "a status line, then close")
        }
        n if n == lines.len() + 2 => Wire::raw(rng.bytes(64), "64 random bytes"),
        _ => Wire::raw(b"\r\n\r\n".to_vec(), "blank lines only"),
    }
}

pub(super) fn huge_headers(rng: &mut Rng) -> Wire {
    let value = "v".repeat(64 << 10);
    let code = *rng.pick(&[200, 503]);
    let r = resp(code);
    let (r, note) = match rng.below(5) {
        0 => (r.header("X-Junk", &value), "one 64 KiB header"),
        1 => {
            let mut r = r;
            for i in 0..8 {
                r = r.header(format!("X-Junk-{i}"), &value);
            }
            (r, "eight 64 KiB headers")
        }
        2 => {
            let mut r = r;
            for _ in 0..500 {
                r = r.header("X-Rep", "v");
            }
            (r, "500 repeated headers")
        }
        3 => (
            r.ct("application/json")
                .ct("text/event-stream")
                .ct("text/html"),
            "three conflicting Content-Type headers",
        ),
        _ => (r.header("Retry-After", &value), "a 64 KiB Retry-After"),
    };
    good(rng, r).wire(format!("status {code}, {note}"))
}

pub(super) fn non_ascii_headers(rng: &mut Rng) -> Wire {
    let code = *rng.pick(&[200, 429, 503]);
    let r = resp(code);
    let (r, note) = match rng.below(6) {
        0 => (
            r.header("X-Bytes", b"\x80\xff\xfe\xc3"),
            "bytes over 0x7f in a value",
        ),
        1 => (
            r.header("Content-Type", b"text/event-stream\xff"),
            "a Content-Type ending in 0xff",
        ),
        2 => (r.header("Retry-After", b"5\xff"), "Retry-After 5 then 0xff"),
        3 => (r.header(b"X-\xffName", "v"), "a header name with 0xff"),
        4 => (r.header("X-Nul", b"a\x00b"), "a NUL in a value"),
        _ => (
            r.header("X-Folded", "a\r\n  folded"),
            "an obsolete folded line",
        ),
    };
    good(rng, r).wire(format!("status {code}, {note}"))
}

pub(crate) const RETRY_AFTERS: &[&str] = &[
    "1e20",
    "18446744073709551616",
    "-1",
    "NaN",
    "inf",
    "-inf",
    "0.0000001",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Mon, 01 Jan 0001 00:00:00 GMT",
    "",
    "5",
    "0",
    "-0",
    "+3",
    "1.5e-300",
    "1e308",
    "184467440737.09551615",
    "18446744073.709551615",
    "  7  ",
];

pub(super) fn retry_after(rng: &mut Rng) -> Wire {
    let code = *rng.pick(&[429, 503, 500]);
    let value = if rng.chance(10) {
        "9".repeat(400)
    } else {
        (*rng.pick(RETRY_AFTERS)).to_owned()
    };
    let code_text = if code == 429 && rng.chance(20) {
        "insufficient_quota"
    } else {
        "busy"
    };
    resp(code)
        .header("Retry-After", &value)
        .json(error_json(code_text))
        .wire(format!("status {code}, Retry-After {value:?}"))
}

pub(super) fn content_length(rng: &mut Rng) -> Wire {
    let r = good(rng, resp(200));
    let n = r.body.len();
    let (r, note) = match rng.below(9) {
        0 => {
            let short = rng.below(n.max(1));
            (
                r.length(Length::Value(short.to_string().into_bytes())),
                format!("Content-Length {short} of {n}"),
            )
        }
        1 => {
            let long = n + 1 + rng.below(1000);
            (
                r.length(Length::Value(long.to_string().into_bytes())),
                format!("Content-Length {long} of {n}"),
            )
        }
        2 => (r.length(Length::Absent), "no Content-Length".into()),
        3 => (
            r.length(Length::Value(b"abc".to_vec())),
            "Content-Length abc".into(),
        ),
        4 => (
            r.length(Length::Value(b"-1".to_vec())),
            "Content-Length -1".into(),
        ),
        5 => (
            r.length(Length::Value(b"99999999999999999999".to_vec())),
            "Content-Length 2^66".into(),
        ),
        6 => (
            r.header("Content-Length", "1").length(Length::Exact),
            "two Content-Lengths".into(),
        ),
        7 => (
            r.length(Length::Value(b"+5".to_vec())),
            "Content-Length +5".into(),
        ),
        _ => (
            r.length(Length::Value(b"0".to_vec())),
            "Content-Length 0".into(),
        ),
    };
    r.wire(note)
}

pub(super) fn chunked(rng: &mut Rng) -> Wire {
    let plain = good(rng, resp(200));
    let data = plain.body.clone();
    let hex = format!("{:x}", data.len());
    let mut body = Vec::new();
    let note = match rng.below(10) {
        0 => {
            body.extend_from_slice(format!("{hex}\r\n").as_bytes());
            body.extend_from_slice(&data);
            body.extend_from_slice(b"\r\n0\r\n\r\n");
            "valid chunks"
        }
        1 => {
            body.extend_from_slice(b"zz\r\n");
            body.extend_from_slice(&data);
            "chunk size zz"
        }
        2 => {
            body.extend_from_slice(b"FFFFFFFFFFFFFFFFFFFF\r\n");
            body.extend_from_slice(&data);
            "chunk size over 2^64"
        }
        3 => {
            body.extend_from_slice(format!("{:x}\r\n", data.len() + 4096).as_bytes());
            body.extend_from_slice(&data);
            "chunk size past the data"
        }
        4 => {
            body.extend_from_slice(format!("{hex}\r\n").as_bytes());
            body.extend_from_slice(&data);
            body.extend_from_slice(b"\r\n");
            "no last chunk"
        }
        5 => {
            body.extend_from_slice(b"-1\r\n");
            body.extend_from_slice(&data);
            "chunk size -1"
        }
        6 => {
            body.extend_from_slice(format!("{hex};a=b;{}\r\n", "c".repeat(10_000)).as_bytes());
            body.extend_from_slice(&data);
            body.extend_from_slice(b"\r\n0\r\n\r\n");
            "a 10 KB chunk extension"
        }
        7 => {
            body.extend_from_slice(format!("{hex}\r\n").as_bytes());
            body.extend_from_slice(&data);
            body.extend_from_slice(b"0\r\n\r\n");
            "no CRLF after the data"
        }
        8 => {
            for b in &data {
                body.extend_from_slice(b"1\r\n");
                body.push(*b);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(b"0\r\nX-Trailer: \xff\r\n\r\n");
            "one byte per chunk, a trailer with 0xff"
        }
        _ => {
            body.extend_from_slice(format!("{hex}\r\n").as_bytes());
            body.extend_from_slice(&data);
            body.extend_from_slice(b"\r\n0\r\n\r\n");
            "chunked and a Content-Length"
        }
    };
    let te = *rng.pick(&["chunked", "gzip, chunked", "chunked, gzip", "Chunked"]);
    let mut r = plain.header("Transfer-Encoding", te).body(body);
    if note != "chunked and a Content-Length" {
        r = r.length(Length::Absent);
    }
    r.wire(format!("Transfer-Encoding {te}: {note}"))
}

pub(super) fn content_encoding(rng: &mut Rng) -> Wire {
    let enc = *rng.pick(&[
        "gzip",
        "br",
        "deflate",
        "gzip, gzip",
        "x-unknown",
        "identity",
    ]);
    let r = resp(200).header("Content-Encoding", enc);
    let (r, what) = match rng.below(3) {
        0 => {
            let n = 16 + rng.below(4096);
            let garbage = rng.bytes(n);
            (r.ct("application/json").body(garbage), "random bytes")
        }
        1 => {
            let mut gz = vec![0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0xff];
            gz.extend(rng.bytes(256));
            (
                r.ct("text/event-stream").body(gz),
                "a gzip header, then garbage",
            )
        }
        _ => (good(rng, r), "a plain body"),
    };
    r.wire(format!("Content-Encoding {enc}, {what}"))
}

pub(super) fn content_type(rng: &mut Rng) -> Wire {
    let ct = *rng.pick(&[
        Some("text/event-stream"),
        Some("application/json"),
        Some("text/html"),
        Some("TEXT/HTML; charset=utf-8"),
        None,
        Some("text/plain"),
        Some(""),
        Some("application/json; charset=utf-16"),
        Some("text/event-stream; charset=latin1"),
        Some("multipart/mixed; boundary=x"),
    ]);
    let (body, kind): (Vec<u8>, &str) = match rng.below(3) {
        0 => (good_sse(rng), "an event stream"),
        1 => (good_json().into_bytes(), "JSON"),
        _ => (
            b"<!doctype html><html><body>Sign in</body></html>".to_vec(),
            "an HTML page",
        ),
    };
    let mut r = resp(200).body(body);
    if let Some(ct) = ct {
        r = r.ct(ct);
    }
    r.wire(format!("Content-Type {ct:?} with {kind}"))
}
