//! Families about whole bodies, streamed or not: truncated, invalid
//! UTF-8, deeply nested, 10 MB, trickling, huge error bodies.

use std::time::Duration;

use super::{Rng, TEN_MB, chunk_with, completion, good_events, good_json, good_sse, prose, sse};
use crate::wire::{Length, Wire, resp};

pub(super) fn truncated_json(rng: &mut Rng) -> Wire {
    if !rng.1 {
        let body = good_json();
        let cut = rng.below(body.len());
        resp(200)
            .json(&body.as_bytes()[..cut])
            .wire(format!("a reply cut at byte {cut} of {}", body.len()))
    } else {
        let mut events = good_events(rng);
        let last = events.len() - 2;
        let cut = rng.below(events[last].len());
        events[last].truncate(cut);
        let mut body = sse(&events[..=last]);
        if rng.chance(50) {
            body.extend_from_slice(b"data: [DONE]\n\n");
        }
        resp(200)
            .sse(body)
            .wire(format!("a stream whose last chunk is cut at byte {cut}"))
    }
}

pub(super) fn invalid_utf8(rng: &mut Rng) -> Wire {
    let bad: &[u8] = rng.pick::<&[u8]>(&[
        b"\xff\xfe",
        b"\xc3",
        b"\xc0\xaf",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\\ud800",
        b"\\udfff\\ud800",
    ]);
    let mut content = b"\"ok ".to_vec();
    content.extend_from_slice(bad);
    content.extend_from_slice(b" ok\"");
    if !rng.1 {
        let mut body = b"{\"id\":\"r\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":".to_vec();
        body.extend_from_slice(&content);
        body.extend_from_slice(b"},\"finish_reason\":\"stop\"}]}");
        resp(200).json(body).wire(format!("a reply with {bad:?}"))
    } else {
        let mut body = b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":".to_vec();
        body.extend_from_slice(&content);
        body.extend_from_slice(b"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
        resp(200).sse(body).wire(format!("a chunk with {bad:?}"))
    }
}

pub(super) fn deep_nesting(rng: &mut Rng) -> Wire {
    let depth = *rng.pick(&[10_000, 100_000]);
    let (open, close) = if rng.chance(50) {
        ("[", "]")
    } else {
        ("{\"a\":", "}")
    };
    let mut nested = open.repeat(depth);
    if rng.chance(50) {
        nested.push('1');
        nested.push_str(&close.repeat(depth));
    }
    match rng.below(3) {
        0 => resp(200)
            .json(nested)
            .wire(format!("a body of {depth} `{open}`")),
        1 => resp(200)
            .sse(sse(&[nested, "[DONE]".into()]))
            .wire(format!("an event of {depth} `{open}`")),
        _ => resp(200)
            .sse(sse(&[
                chunk_with(&format!(
                    r#"{{"index":0,"delta":{{"content":"x","x":{nested}}},"finish_reason":"stop"}}"#
                )),
                "[DONE]".into(),
            ]))
            .wire(format!("a chunk with an unknown field of {depth} `{open}`")),
    }
}

pub(super) fn big_json_body(rng: &mut Rng) -> Wire {
    let text = prose(TEN_MB);
    match rng.below(3) {
        0 => resp(200)
            .json(completion(&format!("\"{text}\"")))
            .wire("a 10 MB reply on one line"),
        1 => resp(200)
            .json(format!("\"{text}\""))
            .wire("a 10 MB JSON string as the body"),
        _ => resp(200)
            .json(completion(&format!("\"{text}\"")))
            .length(Length::Absent)
            .wire("a 10 MB reply on one line, no Content-Length"),
    }
}

pub(super) fn trickle(rng: &mut Rng) -> Wire {
    let code = *rng.pick(&[500, 400, 429, 200]);
    let wire = if code == 200 {
        resp(200)
            .sse(good_sse(rng))
            .wire("a stream, one byte per 100 ms")
    } else {
        resp(code)
            .json(format!(
                r#"{{"error":{{"message":"{}","code":"slow"}}}}"#,
                "s".repeat(100)
            ))
            .wire(format!("status {code}, the error body one byte per 100 ms"))
    };
    wire.trickle(1, Duration::from_millis(100))
}

pub(super) fn big_error_body(rng: &mut Rng) -> Wire {
    let code = *rng.pick(&[400, 401, 500, 503, 429]);
    let text = prose(TEN_MB);
    let (r, what) = match rng.below(3) {
        0 => (
            resp(code).json(format!(
                r#"{{"error":{{"message":"{text}","type":"x","code":"big"}}}}"#
            )),
            "a JSON error with a 10 MB message",
        ),
        1 => (resp(code).ct("text/plain").body(text), "10 MB of text"),
        _ => (
            resp(code).ct("text/html").body(text).length(Length::Absent),
            "10 MB of HTML, no Content-Length",
        ),
    };
    r.wire(format!("status {code}, {what}"))
}
