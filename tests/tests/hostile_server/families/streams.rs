//! Families of event streams (sent to the stream paths only).

use std::time::Duration;

use super::{Rng, TEN_MB, chunk, chunk_with, good_events, good_sse, prose, sse};
use crate::wire::{Wire, resp};

pub(super) fn big_sse_event(rng: &mut Rng) -> Wire {
    let text = prose(TEN_MB);
    let tail = sse(&[chunk("0", "\"\"", "\"stop\""), "[DONE]".into()]);
    match rng.below(4) {
        0 => {
            let mut body = sse(&[chunk("0", &format!("\"{text}\""), "null")]);
            body.extend_from_slice(&tail);
            resp(200)
                .sse(body)
                .wire("one 10 MB `data:` line")
                .must_fail("an event over DEFAULT_MAX_EVENT_BYTES")
        }
        1 => {
            // Many `data:` lines with no blank line between: one event.
            let mut body = Vec::new();
            for piece in text.as_bytes().chunks(1 << 10) {
                body.extend_from_slice(b"data: ");
                body.extend_from_slice(piece);
                body.push(b'\n');
            }
            body.push(b'\n');
            body.extend_from_slice(&tail);
            resp(200)
                .sse(body)
                .wire("one 10 MB event of 1 KiB `data:` lines")
                .must_fail("an event over DEFAULT_MAX_EVENT_BYTES")
        }
        2 => {
            let mut body = b": ".to_vec();
            body.extend_from_slice(text.as_bytes());
            body.extend_from_slice(b"\n\n");
            body.extend_from_slice(&good_sse(rng));
            resp(200)
                .sse(body)
                .wire("a 10 MB comment line, then a stream")
        }
        _ => {
            let mut body = b"data: ".to_vec();
            body.extend_from_slice(text.as_bytes());
            resp(200)
                .sse(body)
                .wire("a 10 MB `data:` line that never ends")
                .must_fail("an event over DEFAULT_MAX_EVENT_BYTES")
        }
    }
}

pub(super) fn many_choices(rng: &mut Rng) -> Wire {
    let n = *rng.pick(&[10_000usize, 30_000]);
    let spread = rng.chance(30);
    let mut events = Vec::with_capacity(n + 1);
    for i in 0..n {
        let index = if spread {
            (i as u64).wrapping_mul(2_654_435_761) % (1 << 53)
        } else {
            i as u64
        };
        events.push(chunk(&index.to_string(), "\"x\"", "\"stop\""));
    }
    events.push("[DONE]".into());
    resp(200)
        .sse(sse(&events))
        .wire(format!(
            "{n} distinct choice indices{}",
            if spread { ", spread to 2^53" } else { "" }
        ))
        .must_fail("more choices than MAX_CHOICES")
}

pub(super) fn many_tool_calls(rng: &mut Rng) -> Wire {
    let n = *rng.pick(&[10_000usize, 30_000]);
    let mut events = Vec::with_capacity(n + 2);
    for i in 0..n {
        events.push(chunk_with(&format!(
            r#"{{"index":0,"delta":{{"tool_calls":[{{"index":{i},"id":"call_{i}","type":"function","function":{{"name":"f","arguments":"{{}}"}}}}]}},"finish_reason":null}}"#
        )));
    }
    events.push(chunk_with(
        r#"{"index":0,"delta":{},"finish_reason":"tool_calls"}"#,
    ));
    events.push("[DONE]".into());
    resp(200)
        .sse(sse(&events))
        .wire(format!("{n} distinct tool-call indices in one choice"))
}

pub(super) fn big_tool_arguments(rng: &mut Rng) -> Wire {
    // 4 MiB of arguments in 4 KiB fragments: past MAX_TOOL_ARGUMENT_BYTES.
    let fragment = "a".repeat(4 << 10);
    let fragments = 1024;
    let mut events = vec![chunk_with(
        r#"{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_0","type":"function","function":{"name":"f","arguments":""}}]},"finish_reason":null}"#,
    )];
    for _ in 0..fragments {
        events.push(chunk_with(&format!(
            r#"{{"index":0,"delta":{{"tool_calls":[{{"index":0,"function":{{"arguments":"{fragment}"}}}}]}},"finish_reason":null}}"#
        )));
    }
    let field = *rng.pick(&["tool_calls", "refusal", "reasoning_content"]);
    if field != "tool_calls" {
        events.truncate(0);
        for _ in 0..fragments {
            events.push(chunk_with(&format!(
                r#"{{"index":0,"delta":{{"{field}":"{fragment}"}},"finish_reason":null}}"#
            )));
        }
    }
    let finish = if field == "tool_calls" {
        "tool_calls"
    } else {
        "stop"
    };
    events.push(chunk_with(&format!(
        r#"{{"index":0,"delta":{{}},"finish_reason":"{finish}"}}"#
    )));
    events.push("[DONE]".into());
    resp(200)
        .sse(sse(&events))
        .wire(format!("4 MiB of `{field}` in 4 KiB fragments"))
}

pub(super) fn done_positions(rng: &mut Rng) -> Wire {
    let good = good_events(rng);
    let body_events: Vec<String> = good[..good.len() - 1].to_vec();
    let done = || "[DONE]".to_owned();
    let (events, note): (Vec<String>, &str) = match rng.below(7) {
        0 => (vec![done()], "[DONE] alone"),
        1 => {
            let mut e = vec![done()];
            e.extend(body_events);
            (e, "[DONE] first")
        }
        2 => {
            let mut e = body_events.clone();
            e.insert(1, done());
            (e, "[DONE] in the middle")
        }
        3 => {
            let mut e = body_events;
            e.push(done());
            e.push(done());
            (e, "[DONE] twice")
        }
        4 => {
            let mut e = body_events;
            e.push(done());
            e.push("{not json".into());
            (e, "junk after [DONE]")
        }
        5 => {
            let mut e = body_events;
            e.pop();
            e.push("[done]".into());
            (e, "[done] in lower case, no finish")
        }
        _ => {
            let mut e = body_events;
            e.pop();
            e.push(" [DONE] ".into());
            (e, "[DONE] padded, no finish")
        }
    };
    resp(200).sse(sse(&events)).wire(note)
}

pub(super) fn split_lines(rng: &mut Rng) -> Wire {
    let ending: &[u8] = rng.pick::<&[u8]>(&[b"\n", b"\r\n", b"\r"]);
    let no_space = rng.chance(50);
    let mut body = Vec::new();
    for e in good_events(rng) {
        body.extend_from_slice(if no_space { b"data:" } else { b"data: " });
        body.extend_from_slice(e.as_bytes());
        body.extend_from_slice(ending);
        body.extend_from_slice(ending);
    }
    let mut wire = resp(200).sse(body).wire(format!(
        "a stream with {:?} line endings{}, written in random pieces",
        String::from_utf8_lossy(ending),
        if no_space {
            ", `data:` without a space"
        } else {
            ""
        }
    ));
    let head = wire.bytes.len() - wire.body_len;
    let mut cuts: Vec<usize> = (0..8).map(|_| rng.below(wire.bytes.len())).collect();
    cuts.push(head);
    cuts.sort_unstable();
    cuts.dedup();
    wire.cuts = cuts;
    wire.gap = Duration::from_millis(2);
    wire
}

pub(super) fn errors_in_stream(rng: &mut Rng) -> Wire {
    let error = *rng.pick(&[
        r#"{"error":{"message":"boom","type":"server_error","code":"overloaded"}}"#,
        r#"{"error":"a string"}"#,
        r#"{"error":null}"#,
        r#"{"error":{"message":5}}"#,
        r#"{"error":{}}"#,
        r#"{"error":{"message":"Rate limit","code":"rate_limit_exceeded"}}"#,
        r#"{"error":{"message":"This model's maximum context length is 8192 tokens"}}"#,
    ]);
    let named = rng.chance(50);
    let mut events = good_events(rng);
    let at = rng.below(events.len());
    let mut body = sse(&events[..at]);
    if named {
        body.extend_from_slice(b"event: error\n");
    }
    body.extend_from_slice(b"data: ");
    body.extend_from_slice(error.as_bytes());
    body.extend_from_slice(b"\n\n");
    body.extend_from_slice(&sse(&events.split_off(at)));
    resp(200).sse(body).wire(format!(
        "{}{error} at event {at}",
        if named { "`event: error` with " } else { "" }
    ))
}

pub(super) fn odd_numbers(rng: &mut Rng) -> Wire {
    let number = *rng.pick(&[
        "1e400",
        "-1",
        "1.5",
        "\"0\"",
        "18446744073709551616",
        "4294967296",
        "null",
        "true",
        "-0",
        "1e2",
    ]);
    let (events, note) = match rng.below(4) {
        0 => (
            vec![chunk(number, "\"x\"", "\"stop\""), "[DONE]".into()],
            format!("choice index {number}"),
        ),
        1 => (
            vec![
                chunk_with(&format!(
                    r#"{{"index":0,"delta":{{"tool_calls":[{{"index":{number},"id":"c","type":"function","function":{{"name":"f","arguments":"{{}}"}}}}]}},"finish_reason":"tool_calls"}}"#
                )),
                "[DONE]".into(),
            ],
            format!("tool-call index {number}"),
        ),
        2 => (
            vec![
                format!(
                    r#"{{"id":"c","object":"chat.completion.chunk","created":{number},"model":"m","choices":[{{"index":0,"delta":{{"content":"x"}},"finish_reason":"stop"}}]}}"#
                ),
                "[DONE]".into(),
            ],
            format!("created {number}"),
        ),
        _ => (
            vec![
                chunk("0", "\"x\"", "\"stop\""),
                format!(
                    r#"{{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{{"prompt_tokens":{number},"completion_tokens":{number},"total_tokens":{number}}}}}"#
                ),
                "[DONE]".into(),
            ],
            format!("usage tokens {number}"),
        ),
    };
    resp(200).sse(sse(&events)).wire(note)
}

pub(super) fn sse_noise(rng: &mut Rng) -> Wire {
    let mut body = Vec::new();
    let note = match rng.below(6) {
        0 => {
            body.extend_from_slice(b"\xef\xbb\xbf");
            "a byte-order mark first"
        }
        1 => {
            body.extend_from_slice(b"retry: 99999999999999999999999\nid: a\x00b\nevent: ping\n\n");
            "retry, id with NUL, event: ping"
        }
        2 => {
            body.extend(std::iter::repeat_n(b'\n', 100_000));
            "100 000 blank lines first"
        }
        3 => {
            for _ in 0..1000 {
                body.extend_from_slice(b"event: x\nid: 1\n");
            }
            "1000 fields with no data"
        }
        4 => {
            body.extend_from_slice(b"data\n\ndata:\n\n: comment\n\n");
            "`data` without a colon, empty data"
        }
        _ => {
            body.extend_from_slice(format!("id: {}\n\n", "i".repeat(1 << 20)).as_bytes());
            "a 1 MiB id"
        }
    };
    body.extend_from_slice(&good_sse(rng));
    resp(200).sse(body).wire(note)
}

pub(super) fn many_events(rng: &mut Rng) -> Wire {
    let n = *rng.pick(&[5_000usize, 20_000]);
    let mut events = Vec::with_capacity(n + 2);
    for i in 0..n {
        events.push(chunk("0", &format!("\"w{i} \""), "null"));
    }
    events.push(chunk("0", "\"\"", "\"stop\""));
    events.push("[DONE]".into());
    resp(200)
        .sse(sse(&events))
        .wire(format!("{n} small chunks"))
}
