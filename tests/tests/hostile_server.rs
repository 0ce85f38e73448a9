//! Hostile and imperfect servers: whatever bytes a server sends, a call ends
//! in a value or a typed error, in bounded time and bounded memory, and
//! never panics.
//!
//! A raw TCP server (HTTP/1.1, `Connection: close`) answers every request
//! of a case with the same response, generated from a seeded RNG in one of
//! the families below. Each case drives one client path:
//!
//! - (a) async-openai's client on [`Transport`] (fast retries, `Retry-After`
//!   capped at 50 ms) inside [`Timeout`] (response and idle limits), `create`
//!   and `create_stream`;
//! - (b) the same behind `#[openai_client]` with the scanning guardrails
//!   (`Keywords`, `Pii`, `SecretKeys`, `UrlFilter`) as chunk and
//!   post-response hooks;
//! - (c) [`OpenAIModel`] with the client of (a) injected, streaming (its
//!   event converter) and not.
//!
//! Every call runs in `tokio::spawn` (a panic is a `JoinError`, reported
//! with the case) under an outer limit of [`CASE_LIMIT`] (a hang is a
//! failure). Cases run one after another on a current-thread runtime, and a
//! counting allocator records the peak of live heap bytes during each one,
//! measured from the bytes live when the case starts (the response itself
//! is built before). The peak must stay under [`bound`], written in terms of
//! the limits in [`openai_hooks::limits`].
//!
//! `HOSTILE_CASES=N` runs more cases (the default covers every family with
//! every path once), `HOSTILE_SEED=S` changes the seed, `HOSTILE_CASE=K`
//! runs case `K` alone; every failure names its case and seed.
//!
//! The tests in this file take a lock so that they run one at a time: the
//! allocator's counters are global.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::guardrails::{Keywords, Pii, SecretKeys, UrlFilter};
use openai_hooks::limits::{DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_EVENT_BYTES, ERROR_BODY_BYTES};
use openai_hooks::model::{Fixed, Message, ModelError, OpenAIModel, StreamEvent};
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks::timeout::Timeout;
use openai_hooks::transport::{RetryPolicy, Transport};
use openai_hooks::{ChatClient, ChatRequest, ClientError, DynChatClient, openai_client};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

// ------------------------------------------------------- counting allocator

/// Live heap bytes.
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// The most `LIVE` has been since the last [`reset_peak`].
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting live bytes and their peak.
struct Counting;

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(by: usize) {
    LIVE.fetch_sub(by, Ordering::Relaxed);
}

// `unsafe` only because `GlobalAlloc` is an unsafe trait: every method
// forwards to `System` with the caller's arguments unchanged and only
// counts sizes afterwards. This is the one place the workspace allows it
// (`unsafe_code` is denied there, not forbidden, for this).
#[allow(unsafe_code)]
// SAFETY: `System` upholds `GlobalAlloc`'s contract and each call is passed
// through as received; the counters never touch the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc`, forwarded.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc`, forwarded.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc`, forwarded.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Starts a new peak from what is live now; returns that baseline.
fn reset_peak() -> usize {
    let now = LIVE.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// A current-thread runtime: cases run one after another on one thread.
fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The tests of this file, one at a time (the counters are global).
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

// ------------------------------------------------------------------ limits

/// The outer limit on one call; past it the case is a hang.
const CASE_LIMIT: Duration = Duration::from_secs(20);
/// `Timeout::response`: the complete reply of `create`, a stream's opening.
const RESPONSE_LIMIT: Duration = Duration::from_secs(2);
/// `Timeout::idle`: silence in a stream.
const IDLE_LIMIT: Duration = Duration::from_secs(2);
/// A case still running after this long is blocking the runtime's thread
/// (the outer timer cannot fire): the watchdog ends the process.
const WATCHDOG_LIMIT: Duration = Duration::from_secs(90);

/// Room for the client's own working set with a small reply: the request,
/// the connection and its buffers, hook and converter state. (A small reply
/// peaks well under 1 MiB in a debug build.)
const OVERHEAD: usize = 2 << 20;

/// The most heap a case may add.
///
/// - An error status: the transport reads at most `ERROR_BODY_BYTES` of the
///   body, so a few times that.
/// - A stream: one event is held at a time and is at most
///   `DEFAULT_MAX_EVENT_BYTES`; its bytes, its decoded text and the chunk
///   made from it, with room to spare: four times the limit.
/// - `create`: the body (at most `DEFAULT_MAX_BODY_BYTES`), its decoded
///   reply and what the hooks derive from it: eight times the body.
fn bound(wire: &Wire, path: Path) -> usize {
    OVERHEAD
        + if wire.error_status {
            4 * ERROR_BODY_BYTES
        } else if path.streams() {
            4 * DEFAULT_MAX_EVENT_BYTES
        } else {
            8 * wire.body_len.min(DEFAULT_MAX_BODY_BYTES)
        }
}

// --------------------------------------------------------------------- rng

/// xorshift64*, seeded through splitmix64; `stream` says whether the case's
/// client asks for a stream, so that the families can answer in kind (most
/// of the time).
struct Rng(u64, bool);

impl Rng {
    fn new(seed: u64, stream: bool) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1, stream)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

// ---------------------------------------------------------------- responses

/// One response on the wire, as the server writes it.
struct Wire {
    /// Status line, headers and body.
    bytes: Vec<u8>,
    /// Offsets where a write ends and the next begins after `gap`.
    cuts: Vec<usize>,
    gap: Duration,
    /// The status is a valid non-2xx one: the transport reads the body as
    /// an error's.
    error_status: bool,
    /// Bytes after the head.
    body_len: usize,
    /// The variant, in words.
    note: String,
    /// A success here would mean a limit was not enforced.
    must_fail: Option<&'static str>,
}

impl Wire {
    fn raw(bytes: Vec<u8>, note: impl Into<String>) -> Self {
        Self {
            body_len: bytes.len(),
            bytes,
            cuts: Vec::new(),
            gap: Duration::ZERO,
            error_status: false,
            note: note.into(),
            must_fail: None,
        }
    }

    fn must_fail(mut self, why: &'static str) -> Self {
        self.must_fail = Some(why);
        self
    }

    /// Writes the body (after the head) in pieces of `every` bytes, `gap`
    /// apart.
    fn trickle(mut self, every: usize, gap: Duration) -> Self {
        let start = self.bytes.len() - self.body_len;
        self.cuts = (start..self.bytes.len()).step_by(every.max(1)).collect();
        self.gap = gap;
        self
    }

    /// The first bytes, printable, for a report.
    fn head(&self, n: usize) -> String {
        let end = self.bytes.len().min(n);
        let mut s = String::new();
        for &b in &self.bytes[..end] {
            match b {
                b'\r' => s.push_str("\\r"),
                b'\n' => s.push_str("\\n"),
                b'"' => s.push_str("\\\""),
                b'\\' => s.push_str("\\\\"),
                0x20..=0x7e => s.push(b as char),
                _ => {
                    let _ = write!(s, "\\x{b:02x}");
                }
            }
        }
        if self.bytes.len() > n {
            let _ = write!(s, "… ({} bytes in all)", self.bytes.len());
        }
        s
    }
}

/// How the head states the body's length.
enum Length {
    Exact,
    Absent,
    Value(Vec<u8>),
}

/// A response being built.
struct Resp {
    status_line: Vec<u8>,
    status: Option<u16>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
    length: Length,
}

fn resp(status: u16) -> Resp {
    Resp {
        status_line: format!("HTTP/1.1 {status} X\r\n").into_bytes(),
        status: Some(status),
        headers: vec![(b"Connection".to_vec(), b"close".to_vec())],
        body: Vec::new(),
        length: Length::Exact,
    }
}

impl Resp {
    fn status_line(mut self, line: &[u8], status: Option<u16>) -> Self {
        self.status_line = line.to_vec();
        self.status = status;
        self
    }

    fn header(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.as_ref().to_vec(), value.as_ref().to_vec()));
        self
    }

    fn ct(self, value: &str) -> Self {
        self.header("Content-Type", value)
    }

    fn json(self, body: impl Into<Vec<u8>>) -> Self {
        self.ct("application/json").body(body)
    }

    fn sse(self, body: impl Into<Vec<u8>>) -> Self {
        self.ct("text/event-stream").body(body)
    }

    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    fn length(mut self, length: Length) -> Self {
        self.length = length;
        self
    }

    fn wire(self, note: impl Into<String>) -> Wire {
        let mut bytes = self.status_line;
        for (name, value) in &self.headers {
            bytes.extend_from_slice(name);
            bytes.extend_from_slice(b": ");
            bytes.extend_from_slice(value);
            bytes.extend_from_slice(b"\r\n");
        }
        match self.length {
            Length::Exact => bytes
                .extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes()),
            Length::Absent => {}
            Length::Value(v) => {
                bytes.extend_from_slice(b"Content-Length: ");
                bytes.extend_from_slice(&v);
                bytes.extend_from_slice(b"\r\n");
            }
        }
        bytes.extend_from_slice(b"\r\n");
        bytes.extend_from_slice(&self.body);
        Wire {
            body_len: self.body.len(),
            bytes,
            cuts: Vec::new(),
            gap: Duration::ZERO,
            error_status: self.status.is_some_and(|s| !(200..300).contains(&s)),
            note: note.into(),
            must_fail: None,
        }
    }
}

/// A complete (non-streamed) reply whose content is `content` (JSON text).
fn completion(content: &str) -> String {
    format!(
        r#"{{"id":"r","object":"chat.completion","created":1,"model":"m","choices":[{{"index":0,"message":{{"role":"assistant","content":{content}}},"finish_reason":"stop"}}]}}"#
    )
}

/// One chunk: `choice` is the whole choice object.
fn chunk_with(choice: &str) -> String {
    format!(
        r#"{{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{choice}]}}"#
    )
}

fn chunk(index: &str, content: &str, finish: &str) -> String {
    chunk_with(&format!(
        r#"{{"index":{index},"delta":{{"content":{content}}},"finish_reason":{finish}}}"#
    ))
}

/// `data:` events, each followed by a blank line.
fn sse(events: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(e.as_bytes());
        out.extend_from_slice(b"\n\n");
    }
    out
}

/// A well-formed stream: a few pieces of text, a finish reason, `[DONE]`.
fn good_events(rng: &mut Rng) -> Vec<String> {
    let mut events = vec![chunk_with(
        r#"{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}"#,
    )];
    for _ in 0..1 + rng.below(4) {
        let piece = rng.pick(&[
            "\"Hel\"",
            "\"lo \"",
            "\"wörld 👋 \"",
            "\"see https://example.com \"",
        ]);
        events.push(chunk("0", piece, "null"));
    }
    events.push(chunk("0", "\"\"", "\"stop\""));
    events.push("[DONE]".into());
    events
}

fn good_sse(rng: &mut Rng) -> Vec<u8> {
    sse(&good_events(rng))
}

fn good_json() -> String {
    completion("\"Hello there\"")
}

/// A good reply of the kind the client asks for (one time in five, the
/// other kind), labelled as such.
fn good(rng: &mut Rng, r: Resp) -> Resp {
    if rng.1 != rng.chance(20) {
        r.sse(good_sse(rng))
    } else {
        r.json(good_json())
    }
}

fn error_json(code: &str) -> String {
    format!(
        r#"{{"error":{{"message":"nope","type":"server_error","param":null,"code":"{code}"}}}}"#
    )
}

/// `n` bytes of ordinary text (words, spaces, a little punctuation).
fn prose(n: usize) -> String {
    const WORDS: &str = "lorem ipsum dolor sit amet, consectetur adipiscing elit. ";
    WORDS.chars().cycle().take(n).collect()
}

const TEN_MB: usize = 10 << 20;

// ---------------------------------------------------------------- families

type Family = fn(&mut Rng) -> Wire;

/// Families of event streams are sent to the stream paths only; the others
/// to every path.
const FAMILIES: &[(&str, Family, &[Path])] = &[
    ("status", status, &PATHS),
    ("status_line", status_line, &PATHS),
    ("huge_headers", huge_headers, &PATHS),
    ("non_ascii_headers", non_ascii_headers, &PATHS),
    ("retry_after", retry_after, &PATHS),
    ("content_length", content_length, &PATHS),
    ("chunked", chunked, &PATHS),
    ("content_encoding", content_encoding, &PATHS),
    ("content_type", content_type, &PATHS),
    ("truncated_json", truncated_json, &PATHS),
    ("invalid_utf8", invalid_utf8, &PATHS),
    ("deep_nesting", deep_nesting, &PATHS),
    ("big_json_body", big_json_body, &PATHS),
    ("trickle", trickle, &PATHS),
    ("big_error_body", big_error_body, &PATHS),
    ("big_sse_event", big_sse_event, &STREAMS),
    ("many_choices", many_choices, &STREAMS),
    ("many_tool_calls", many_tool_calls, &STREAMS),
    ("big_tool_arguments", big_tool_arguments, &STREAMS),
    ("done_positions", done_positions, &STREAMS),
    ("split_lines", split_lines, &STREAMS),
    ("errors_in_stream", errors_in_stream, &STREAMS),
    ("odd_numbers", odd_numbers, &STREAMS),
    ("sse_noise", sse_noise, &STREAMS),
    ("many_events", many_events, &STREAMS),
];

/// Every (family, path) pair once: case `k` is pair `k % len`.
fn pairs() -> Vec<(&'static str, Family, Path)> {
    let mut pairs = Vec::new();
    let widest = PATHS.len();
    for round in 0..widest {
        for &(name, family, paths) in FAMILIES {
            if let Some(&path) = paths.get(round) {
                pairs.push((name, family, path));
            }
        }
    }
    pairs
}

fn status(rng: &mut Rng) -> Wire {
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

fn status_line(rng: &mut Rng) -> Wire {
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

fn huge_headers(rng: &mut Rng) -> Wire {
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

fn non_ascii_headers(rng: &mut Rng) -> Wire {
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

const RETRY_AFTERS: &[&str] = &[
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

fn retry_after(rng: &mut Rng) -> Wire {
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

fn content_length(rng: &mut Rng) -> Wire {
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

fn chunked(rng: &mut Rng) -> Wire {
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

fn content_encoding(rng: &mut Rng) -> Wire {
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

fn content_type(rng: &mut Rng) -> Wire {
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

fn truncated_json(rng: &mut Rng) -> Wire {
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

fn invalid_utf8(rng: &mut Rng) -> Wire {
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

fn deep_nesting(rng: &mut Rng) -> Wire {
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

fn big_json_body(rng: &mut Rng) -> Wire {
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

fn big_sse_event(rng: &mut Rng) -> Wire {
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

fn many_choices(rng: &mut Rng) -> Wire {
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

fn many_tool_calls(rng: &mut Rng) -> Wire {
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

fn big_tool_arguments(rng: &mut Rng) -> Wire {
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

fn done_positions(rng: &mut Rng) -> Wire {
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

fn split_lines(rng: &mut Rng) -> Wire {
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

fn errors_in_stream(rng: &mut Rng) -> Wire {
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

fn trickle(rng: &mut Rng) -> Wire {
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

fn big_error_body(rng: &mut Rng) -> Wire {
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

fn odd_numbers(rng: &mut Rng) -> Wire {
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

fn sse_noise(rng: &mut Rng) -> Wire {
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

fn many_events(rng: &mut Rng) -> Wire {
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

// ------------------------------------------------------------------ server

/// The raw server: answers every request with the current case's response.
struct RawServer {
    base_url: String,
    current: Arc<Mutex<Arc<Wire>>>,
}

impl RawServer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let current = Arc::new(Mutex::new(Arc::new(Wire::raw(Vec::new(), "none"))));
        let shared = current.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let wire = shared.lock().unwrap().clone();
                tokio::spawn(serve(socket, wire));
            }
        });
        Self {
            base_url: format!("http://{addr}/v1"),
            current,
        }
    }

    fn set(&self, wire: Arc<Wire>) {
        *self.current.lock().unwrap() = wire;
    }
}

/// Reads one request (head and `Content-Length` body), then writes `wire`
/// and closes.
async fn serve(socket: TcpStream, wire: Arc<Wire>) {
    let _ = socket.set_nodelay(true);
    let mut request = Vec::new();
    let mut buf = [0u8; 8192];
    let mut wanted = None;
    loop {
        if let Some(n) = wanted {
            if request.len() >= n {
                break;
            }
        } else if let Some(end) = find(&request, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let body = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            wanted = Some(end + 4 + body);
            continue;
        }
        if socket.readable().await.is_err() {
            return;
        }
        match socket.try_read(&mut buf) {
            Ok(0) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
    let mut start = 0;
    for end in wire.cuts.iter().copied().chain([wire.bytes.len()]) {
        if end <= start {
            continue;
        }
        if write_all(&socket, &wire.bytes[start..end]).await.is_err() {
            return;
        }
        start = end;
        if !wire.gap.is_zero() {
            tokio::time::sleep(wire.gap).await;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn write_all(socket: &TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        socket.writable().await?;
        match socket.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

// ----------------------------------------------------------------- clients

#[openai_client]
struct Scanned<C> {
    #[inner]
    client: C,
    #[on_chunk]
    #[post_response]
    keywords: Keywords,
    #[on_chunk]
    #[post_response]
    pii: Pii,
    #[on_chunk]
    #[post_response]
    secrets: SecretKeys,
    #[on_chunk]
    #[post_response]
    urls: UrlFilter,
}

type Plain = Timeout<Client<OpenAIConfig>>;

/// Every client, built once for all cases.
struct Clients {
    plain: Arc<Plain>,
    scanned: Scanned<Plain>,
    model_stream: OpenAIModel<Fixed<Plain>>,
    model_create: OpenAIModel<Fixed<Plain>>,
}

fn plain(base_url: &str) -> Plain {
    let transport = Transport::builder()
        .retry(
            RetryPolicy::default()
                .max_retries(2)
                .initial_backoff(Duration::from_millis(1))
                .max_backoff(Duration::from_millis(4))
                .max_retry_after(Duration::from_millis(50)),
        )
        .build()
        .unwrap();
    let config = OpenAIConfig::new()
        .with_api_base(base_url)
        .with_api_key("test-key");
    Timeout::new(transport.client(config))
        .response(RESPONSE_LIMIT)
        .idle(IDLE_LIMIT)
}

impl Clients {
    fn new(base_url: &str) -> Self {
        let plain_client = Arc::new(plain(base_url));
        Self {
            scanned: Scanned {
                client: plain(base_url),
                keywords: Keywords::new(["project falcon", "internal-only"]).unwrap(),
                pii: Pii::new(),
                secrets: SecretKeys::new(),
                urls: UrlFilter::new(["example.com"]).unwrap(),
            },
            model_stream: OpenAIModel::builder("m")
                .shared_client(plain_client.clone())
                .build()
                .unwrap(),
            model_create: OpenAIModel::builder("m")
                .stream(false)
                .shared_client(plain_client.clone())
                .build()
                .unwrap(),
            plain: plain_client,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Path {
    ACreate,
    AStream,
    BCreate,
    BStream,
    CStream,
    CCreate,
}

const PATHS: [Path; 6] = [
    Path::ACreate,
    Path::AStream,
    Path::BCreate,
    Path::BStream,
    Path::CStream,
    Path::CCreate,
];

const STREAMS: [Path; 3] = [Path::AStream, Path::BStream, Path::CStream];

impl Path {
    fn streams(self) -> bool {
        matches!(self, Path::AStream | Path::BStream | Path::CStream)
    }

    fn name(self) -> &'static str {
        match self {
            Path::ACreate => "a:create",
            Path::AStream => "a:stream",
            Path::BCreate => "b:create",
            Path::BStream => "b:stream",
            Path::CStream => "c:stream",
            Path::CCreate => "c:create",
        }
    }
}

// ---------------------------------------------------------------- outcomes

#[derive(Debug)]
enum Outcome {
    /// A value (for streams, how many chunks or events).
    Ok(usize),
    /// A typed error, by kind.
    Error(String),
    /// A result that breaks the contract (a stream that ended silently,
    /// an item after an error).
    Bad(String),
    Panic(String),
    Hang,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Ok(items) => write!(f, "ok ({items} items)"),
            Outcome::Error(kind) => write!(f, "{kind}"),
            Outcome::Bad(what) => write!(f, "bad: {what}"),
            Outcome::Panic(message) => write!(f, "panic: {message}"),
            Outcome::Hang => write!(f, "hang"),
        }
    }
}

fn client_kind(e: &ClientError) -> String {
    match e {
        ClientError::Api(api) => format!(
            "Api({})",
            api.status.map_or("stream".into(), |s| s.to_string())
        ),
        ClientError::Hook(h) if h.is_tripwire() => "Hook(tripwire)".into(),
        ClientError::Hook(_) => "Hook(failed)".into(),
        ClientError::Transport { .. } => "Transport".into(),
        ClientError::Decode { what, .. } => format!("Decode({what})"),
        ClientError::Stream(_) => "Stream".into(),
        ClientError::Truncated { .. } => "Truncated".into(),
        ClientError::EmptyStream => "EmptyStream".into(),
        ClientError::Timeout { what, .. } => format!("Timeout({what})"),
        ClientError::InvalidRequest(_) => "InvalidRequest".into(),
        ClientError::LimitExceeded { what, .. } => format!("LimitExceeded({what})"),
        _ => "ClientError(other)".into(),
    }
}

fn model_kind(e: &ModelError) -> String {
    match e {
        ModelError::ContextWindowOverflow(_) => "Model:ContextWindowOverflow".into(),
        ModelError::Throttled(_) => "Model:Throttled".into(),
        ModelError::Hook(_) => "Model:Hook".into(),
        ModelError::Client(c) => format!("Model:{}", client_kind(c)),
        ModelError::InvalidRequest(_) => "Model:InvalidRequest".into(),
        ModelError::Config(_) => "Model:Config".into(),
        ModelError::StructuredOutput { .. } => "Model:StructuredOutput".into(),
        _ => "ModelError(other)".into(),
    }
}

fn request() -> ChatRequest {
    serde_json::from_value(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .unwrap()
}

async fn create(client: &dyn DynChatClient) -> Outcome {
    match client.create(request()).await {
        Ok(reply) => Outcome::Ok(reply.choices.len()),
        Err(e) => Outcome::Error(client_kind(&e)),
    }
}

/// Drains a stream keeping only a count; a stream must end with an error
/// or after at least one chunk, and nothing may follow an error.
async fn drain(client: &dyn DynChatClient) -> Outcome {
    let mut stream = match client.create_stream(request()).await {
        Ok(s) => s,
        Err(e) => return Outcome::Error(client_kind(&e)),
    };
    let mut chunks = 0;
    while let Some(item) = stream.next().await {
        match item {
            Ok(_) => chunks += 1,
            Err(e) => {
                if stream.next().await.is_some() {
                    return Outcome::Bad(format!("an item followed {e:?}"));
                }
                return Outcome::Error(client_kind(&e));
            }
        }
    }
    if chunks == 0 {
        Outcome::Bad("the stream ended with no chunk and no error".into())
    } else {
        Outcome::Ok(chunks)
    }
}

/// Drains a model's events; an event stream that ends without an error
/// must have ended the message.
async fn model_events(model: &OpenAIModel<Fixed<Plain>>) -> Outcome {
    let messages = [Message::user("hi")];
    let mut events = std::pin::pin!(model.stream(&messages, &[], None, None));
    let mut count = 0;
    let mut stopped = false;
    while let Some(item) = events.next().await {
        match item {
            Ok(event) => {
                count += 1;
                stopped |= matches!(event, StreamEvent::MessageStop { .. });
            }
            Err(e) => {
                if events.next().await.is_some() {
                    return Outcome::Bad(format!("an event followed {e:?}"));
                }
                return Outcome::Error(model_kind(&e));
            }
        }
    }
    if stopped {
        Outcome::Ok(count)
    } else {
        Outcome::Bad(format!("{count} events and no MessageStop, no error"))
    }
}

async fn call(clients: Arc<Clients>, path: Path) -> Outcome {
    match path {
        Path::ACreate => create(clients.plain.as_ref()).await,
        Path::AStream => drain(clients.plain.as_ref()).await,
        Path::BCreate => create(&clients.scanned).await,
        Path::BStream => drain(&clients.scanned).await,
        Path::CStream => model_events(&clients.model_stream).await,
        Path::CCreate => model_events(&clients.model_create).await,
    }
}

/// Panic messages (with their locations) seen by the hook below.
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let trace = std::backtrace::Backtrace::force_capture().to_string();
            let mut seen = info.to_string().replace('\n', " ");
            if let Some(frame) = library_frame(&trace) {
                let _ = write!(seen, " [in {frame}]");
            }
            PANICS
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(seen);
            previous(info);
        }));
    });
}

/// The innermost frame of the library in a backtrace, with its location:
/// where a panic in a dependency was reached from.
fn library_frame(trace: &str) -> Option<String> {
    let mut lines = trace.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let name = line.split_once(": ").map_or(line, |(_, name)| name);
        if name.starts_with("openai_hooks::") || name.starts_with("<openai_hooks::") {
            let at = lines.next().unwrap_or_default();
            return Some(format!("{name} {at}"));
        }
    }
    None
}

/// Runs one call in its own task under [`CASE_LIMIT`].
async fn run(clients: Arc<Clients>, path: Path) -> Outcome {
    PANICS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
    let task = tokio::spawn(call(clients, path));
    let abort = task.abort_handle();
    match tokio::time::timeout(CASE_LIMIT, task).await {
        Err(_) => {
            abort.abort();
            Outcome::Hang
        }
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) if e.is_panic() => {
            let seen = PANICS
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .join(" | ");
            Outcome::Panic(if seen.is_empty() {
                format!("{e:?}")
            } else {
                seen
            })
        }
        Ok(Err(e)) => Outcome::Bad(format!("the task ended without a result: {e}")),
    }
}

/// `outcome`, or a panic when one happened anywhere during the call (in a
/// task the client spawned, say) even though the call itself ended.
fn with_hidden_panics(outcome: Outcome) -> Outcome {
    let seen = PANICS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .join(" | ");
    match outcome {
        Outcome::Panic(_) | Outcome::Hang => outcome,
        _ if !seen.is_empty() => Outcome::Panic(format!(
            "in another task, and the call ended as `{outcome}`: {seen}"
        )),
        _ => outcome,
    }
}

// -------------------------------------------------------------------- cases

/// What a case may not be, in a sentence, or `None`.
fn verdict(wire: &Wire, path: Path, outcome: &Outcome, peak: usize) -> Option<String> {
    let limit = bound(wire, path);
    let mut problems = Vec::new();
    match outcome {
        Outcome::Panic(m) => problems.push(format!("panicked: {m}")),
        Outcome::Hang => problems.push(format!("no result within {CASE_LIMIT:?}")),
        Outcome::Bad(m) => problems.push(m.clone()),
        Outcome::Ok(_) => {
            if let Some(why) = wire.must_fail {
                problems.push(format!("succeeded, but {why} must end the call"));
            }
        }
        Outcome::Error(_) => {}
    }
    if peak > limit {
        problems.push(format!(
            "peak heap {} over the bound {}",
            mib(peak),
            mib(limit)
        ));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

fn mib(bytes: usize) -> String {
    format!("{:.2} MiB", bytes as f64 / f64::from(1 << 20))
}

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// The default seed; any failure prints the seed and case to rerun it.
const SEED: u64 = 0x005E_ED0F_F00D;

/// Per family: cases, peak, outcome kinds.
#[derive(Default)]
struct FamilyStats {
    cases: usize,
    panics: usize,
    hangs: usize,
    bad: usize,
    over_bound: usize,
    max_peak: usize,
    max_bound: usize,
    kinds: BTreeMap<String, usize>,
}

/// When the current case started (ms since `BASE`), 0 between cases: the
/// watchdog's view.
static CASE_STARTED: AtomicU64 = AtomicU64::new(0);
static BASE: LazyLock<Instant> = LazyLock::new(Instant::now);
static CASE_NAME: Mutex<String> = Mutex::new(String::new());

fn since_base() -> u64 {
    BASE.elapsed().as_millis() as u64 + 1
}

/// Ends the process when one case blocks the runtime's thread for longer
/// than [`WATCHDOG_LIMIT`]: the outer timer cannot fire then, and a stuck
/// CI job says less than this.
fn watchdog() {
    std::thread::spawn(|| {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let started = CASE_STARTED.load(Ordering::Relaxed);
            if started != 0
                && since_base().saturating_sub(started) > WATCHDOG_LIMIT.as_millis() as u64
            {
                let name = CASE_NAME
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                eprintln!("hostile_server: {name} blocked its thread for {WATCHDOG_LIMIT:?}");
                std::process::exit(101);
            }
        }
    });
}

#[test]
fn hostile_servers_end_every_call_typed_in_bounded_memory() {
    let _serial = serial();
    current_thread().block_on(hostile_servers_end_every_call_typed_in_bounded_memory_body());
}

async fn hostile_servers_end_every_call_typed_in_bounded_memory_body() {
    record_panics();
    LazyLock::force(&BASE);
    watchdog();

    let seed = env("HOSTILE_SEED").unwrap_or(SEED);
    let pairs = pairs();
    let count: usize = env("HOSTILE_CASES").unwrap_or(pairs.len());
    let only: Option<usize> = env("HOSTILE_CASE");
    println!(
        "hostile_server: seed {seed:#x}, {count} cases (HOSTILE_CASES=N for more, \
         HOSTILE_SEED=S, HOSTILE_CASE=K for one)"
    );

    let server = RawServer::start().await;
    let clients = Arc::new(Clients::new(&server.base_url));
    let mut stats: BTreeMap<&str, FamilyStats> = BTreeMap::new();
    let mut failures = Vec::new();
    let started = Instant::now();

    for case in (0..count).filter(|c| only.is_none_or(|k| k == *c)) {
        let (family, generate, path) = pairs[case % pairs.len()];
        let mut rng = Rng::new(
            seed ^ (case as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            path.streams(),
        );
        let wire = Arc::new(generate(&mut rng));
        let name = format!(
            "case {case} (seed {seed:#x}) {family} / {}: {}",
            path.name(),
            wire.note
        );
        *CASE_NAME.lock().unwrap() = name.clone();
        server.set(wire.clone());

        let t0 = Instant::now();
        let baseline = reset_peak();
        CASE_STARTED.store(since_base(), Ordering::Relaxed);
        let outcome = with_hidden_panics(run(clients.clone(), path).await);
        CASE_STARTED.store(0, Ordering::Relaxed);
        let peak = PEAK.load(Ordering::Relaxed).saturating_sub(baseline);
        let took = t0.elapsed();

        let verdict = verdict(&wire, path, &outcome, peak);
        println!(
            "{name} -> {outcome}, peak {}, {took:.2?}{}",
            mib(peak),
            if verdict.is_some() { "  FAILED" } else { "" }
        );
        let s = stats.entry(family).or_default();
        s.cases += 1;
        s.max_peak = s.max_peak.max(peak);
        s.max_bound = s.max_bound.max(bound(&wire, path));
        match &outcome {
            Outcome::Ok(_) => *s.kinds.entry("ok".into()).or_default() += 1,
            Outcome::Error(k) => *s.kinds.entry(k.clone()).or_default() += 1,
            Outcome::Bad(_) => s.bad += 1,
            Outcome::Panic(_) => s.panics += 1,
            Outcome::Hang => s.hangs += 1,
        }
        if peak > bound(&wire, path) {
            s.over_bound += 1;
        }
        if let Some(v) = verdict {
            failures.push(format!(
                "{name}\n    {v}\n    response: \"{}\"",
                wire.head(300)
            ));
        }
        // Let the server's tasks for this case finish or notice the close.
        drop(wire);
        tokio::task::yield_now().await;
    }

    println!("\nhostile_server summary ({:.1?}):", started.elapsed());
    println!(
        "{:<20} {:>5} {:>6} {:>5} {:>4} {:>5} {:>11} {:>11}  outcomes",
        "family", "cases", "panics", "hangs", "bad", "over", "max peak", "bound"
    );
    let mut total = FamilyStats::default();
    for (family, s) in &stats {
        let kinds: Vec<String> = s.kinds.iter().map(|(k, n)| format!("{k}×{n}")).collect();
        println!(
            "{family:<20} {:>5} {:>6} {:>5} {:>4} {:>5} {:>11} {:>11}  {}",
            s.cases,
            s.panics,
            s.hangs,
            s.bad,
            s.over_bound,
            mib(s.max_peak),
            mib(s.max_bound),
            kinds.join(", ")
        );
        total.cases += s.cases;
        total.panics += s.panics;
        total.hangs += s.hangs;
        total.bad += s.bad;
        total.over_bound += s.over_bound;
        total.max_peak = total.max_peak.max(s.max_peak);
        for (k, n) in &s.kinds {
            *total.kinds.entry(k.clone()).or_default() += n;
        }
    }
    let kinds: Vec<String> = total
        .kinds
        .iter()
        .map(|(k, n)| format!("{k}×{n}"))
        .collect();
    println!(
        "{:<20} {:>5} {:>6} {:>5} {:>4} {:>5} {:>11} {:>11}  {}",
        "all",
        total.cases,
        total.panics,
        total.hangs,
        total.bad,
        total.over_bound,
        mib(total.max_peak),
        "",
        kinds.join(", ")
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        total.cases,
        failures.join("\n")
    );
}

// ------------------------------------------------------------- fixed cases

/// `Duration::MAX` means "no limit" for both of `Timeout`'s limits: a stream
/// through it delivers its chunks and ends, with no panic when the idle
/// timer is reset after a chunk.
#[test]
fn timeout_limits_of_duration_max_mean_no_limit() {
    let _serial = serial();
    current_thread().block_on(timeout_limits_of_duration_max_mean_no_limit_body());
}

async fn timeout_limits_of_duration_max_mean_no_limit_body() {
    record_panics();
    let server = LocalServer::start().await.unwrap();
    let config = OpenAIConfig::new().with_api_base(server.base_url());
    for (what, client) in [
        (
            "idle",
            Timeout::new(Client::with_config(config.clone())).idle(Duration::MAX),
        ),
        (
            "response",
            Timeout::new(Client::with_config(config.clone())).response(Duration::MAX),
        ),
    ] {
        server.push(Reply::text("one two three").chunks(3));
        PANICS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let task = tokio::spawn(async move {
            let mut stream = client.create_stream(request()).await?;
            let mut text = String::new();
            while let Some(chunk) = stream.next().await {
                text.push_str(chunk?.content().unwrap_or_default());
            }
            Ok::<_, ClientError>(text)
        });
        let joined = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap_or_else(|_| panic!("{what}(Duration::MAX): no result within 10 s"));
        let text = match joined {
            Ok(r) => r.unwrap_or_else(|e| panic!("{what}(Duration::MAX): {e}")),
            Err(_) => {
                // Read first: the guard must be gone before `panic!` runs
                // the hook, which takes the same lock.
                let seen = PANICS
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .join(" | ");
                panic!("{what}(Duration::MAX) panicked: {seen}")
            }
        };
        assert_eq!(text, "one two three", "{what}(Duration::MAX)");
    }
    server.shutdown().await;
}

/// An error body that trickles in is read for at most
/// `DEFAULT_ERROR_BODY_TIME` by the transport alone (no `Timeout` layer):
/// the call ends with the status and what arrived, not when the server
/// stops.
#[test]
fn a_trickling_error_body_is_read_for_at_most_the_error_body_time() {
    let _serial = serial();
    current_thread()
        .block_on(a_trickling_error_body_is_read_for_at_most_the_error_body_time_body());
}

async fn a_trickling_error_body_is_read_for_at_most_the_error_body_time_body() {
    use openai_hooks::limits::DEFAULT_ERROR_BODY_TIME;

    let server = RawServer::start().await;
    // 40 s of body, one byte each 100 ms.
    let wire = resp(500)
        .json(format!(
            r#"{{"error":{{"message":"{}"}}}}"#,
            "s".repeat(400)
        ))
        .wire("a trickling 500")
        .trickle(1, Duration::from_millis(100));
    server.set(Arc::new(wire));
    let client = Transport::builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
        .client(OpenAIConfig::new().with_api_base(&server.base_url));
    let limit = DEFAULT_ERROR_BODY_TIME + Duration::from_secs(5);
    let t0 = Instant::now();
    let task = tokio::spawn(async move { client.create(request()).await.map(|_| ()) });
    let result = tokio::time::timeout(limit, task).await.unwrap_or_else(|_| {
        panic!("a trickling error body held the call past {limit:?} (DEFAULT_ERROR_BODY_TIME {DEFAULT_ERROR_BODY_TIME:?})")
    });
    let err = result.expect("no panic").expect_err("a 500 is an error");
    assert_eq!(err.status(), Some(500), "{err}");
    assert!(t0.elapsed() < limit);
}

/// Every `Retry-After` of the list, on a `429` and a `503`: the call ends
/// with the API error (the value is honoured, ignored or ends the retries),
/// never a panic. The fuzz test above samples these; here each one runs.
#[test]
fn every_odd_retry_after_ends_in_the_api_error() {
    let _serial = serial();
    current_thread().block_on(every_odd_retry_after_ends_in_the_api_error_body());
}

async fn every_odd_retry_after_ends_in_the_api_error_body() {
    record_panics();
    let server = RawServer::start().await;
    let clients = Arc::new(Clients::new(&server.base_url));
    let mut failures = Vec::new();
    for value in RETRY_AFTERS {
        for code in [429, 503] {
            let wire = resp(code)
                .header("Retry-After", value)
                .json(error_json("busy"))
                .wire(format!("status {code}, Retry-After {value:?}"));
            let head = wire.head(120);
            server.set(Arc::new(wire));
            let outcome = with_hidden_panics(run(clients.clone(), Path::ACreate).await);
            if !matches!(&outcome, Outcome::Error(kind) if kind == &format!("Api({code})")) {
                failures.push(format!("{head}\n    -> {outcome}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
