//! Bounded bodies: what the transport reads of an error response, and the
//! limits it puts on a reply's body and on each of its server-sent events.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use reqwest::Response;

/// Reads at most `cap` bytes of `response`'s body, for at most `time`, and
/// returns them as text (invalid UTF-8 replaced). A body that trickles, or
/// never ends, costs `time` and `cap` bytes, no more; a body that fails
/// part-way keeps what arrived.
pub(super) async fn read_capped(mut response: Response, cap: usize, time: Duration) -> String {
    let mut buf = Vec::new();
    let read = async {
        while let Ok(Some(chunk)) = response.chunk().await {
            let room = cap - buf.len();
            buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if buf.len() >= cap {
                break;
            }
        }
    };
    // Out of time: what arrived is kept; the response (and its connection)
    // is dropped.
    let _ = tokio::time::timeout(time, read).await;
    String::from_utf8_lossy(&buf).into_owned()
}

/// A limit the transport enforces on a reply body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyLimit {
    pub(crate) what: &'static str,
    pub(crate) limit: u64,
}

impl std::fmt::Display for BodyLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the reply went past the limit on {} ({})",
            self.what, self.limit
        )
    }
}

impl std::error::Error for BodyLimit {}

/// The SSE error type of the event that reports a [`BodyLimit`] inside a
/// stream. async-openai turns a failing body into an error that keeps only
/// the text "error decoding response body"; an event it decodes and hands
/// on keeps the limit, and the client turns it back into
/// [`ClientError::LimitExceeded`](crate::ClientError::LimitExceeded).
pub(crate) const LIMIT_EVENT_TYPE: &str = "openai_hooks_limit";

/// The names a [`BodyLimit`] can have.
pub(crate) const EVENT_BYTES: &str = "bytes per event";
pub(crate) const BODY_BYTES: &str = "reply body bytes";

/// The limit an error event from a stream reports, when it is one of the
/// transport's.
pub(crate) fn limit_of_event(
    kind: Option<&str>,
    code: Option<&str>,
    param: Option<&str>,
) -> Option<BodyLimit> {
    if kind != Some(LIMIT_EVENT_TYPE) {
        return None;
    }
    let what = [EVENT_BYTES, BODY_BYTES]
        .into_iter()
        .find(|w| Some(*w) == code)?;
    let limit = param?.parse().ok()?;
    Some(BodyLimit { what, limit })
}

/// `response` with its body limited to `max_body` bytes, and each event of
/// an event stream to `max_event` bytes.
///
/// An event stream (asked for by the caller, said by its `Content-Type`,
/// or, when that is wrong, told by a first byte that is not `{` or `[`) is
/// passed on an event at a time,
/// whole events only, with a leading byte-order mark removed (async-openai's
/// event parser panics on one, in a task of its own). When a limit is
/// reached the parser above has seen nothing of the event that broke it,
/// and the stream ends with one event that names the limit. Whole events
/// also keep the parser linear: it re-reads a line it has only part of.
///
/// Any other body is passed on whole, once it has all arrived; over the
/// limit it fails with [`BodyLimit`] as the error's source.
pub(super) fn limit(
    response: Response,
    max_body: usize,
    max_event: usize,
    stream: bool,
) -> Response {
    let sse = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        });
    let (parts, body) = http::Response::from(response).into_parts();
    let gate = Gate {
        upstream: Box::pin(http_body_util::BodyDataStream::new(body)),
        mode: if sse || stream {
            Mode::Start
        } else {
            Mode::Sniff
        },
        max_body,
        max_event,
        total: 0,
        pending: BytesMut::new(),
        eols: 0,
        cr: false,
        since: 0,
        done: false,
        failed: None,
    };
    let body = reqwest::Body::wrap_stream(gate);
    Response::from(http::Response::from_parts(parts, body))
}

/// What the gate knows of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not said by its type: the first byte decides.
    Sniff,
    /// An event stream whose first bytes (a byte-order mark?) are to come.
    Start,
    /// An event stream.
    Events,
    /// Anything else: passed on whole.
    Whole,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Gate {
    upstream: ByteStream,
    mode: Mode,
    max_body: usize,
    max_event: usize,
    /// Bytes read so far.
    total: usize,
    /// The start of an event not yet complete.
    pending: BytesMut,
    /// Line endings in a row just before `pending`'s end (two end an event).
    eols: u8,
    /// Whether the last byte was `\r` (a `\n` after it ends the same line).
    cr: bool,
    /// Bytes of the event under way, `pending` included.
    since: usize,
    done: bool,
    /// A read failure, passed on after what was held.
    failed: Option<reqwest::Error>,
}

impl Gate {
    /// Where the last complete event in `bytes` ends (scanning on from the
    /// state `pending` left), and whether an event went over `max_event`
    /// bytes; if so, the boundary is the last one before that event, and
    /// the scan stopped there.
    fn scan(&mut self, bytes: &[u8]) -> (Option<usize>, bool) {
        let mut boundary = None;
        let mut at = 0;
        while at < bytes.len() {
            let skip = memchr::memchr2(b'\r', b'\n', &bytes[at..]).unwrap_or(bytes.len() - at);
            if skip > 0 {
                self.eols = 0;
                self.cr = false;
                self.since = self.since.saturating_add(skip);
                if self.since > self.max_event {
                    return (boundary, true);
                }
            }
            let i = at + skip;
            let Some(&b) = bytes.get(i) else {
                break;
            };
            self.since = self.since.saturating_add(1);
            if b == b'\n' && self.cr {
                // The `\n` of a `\r\n`: the same line ending.
                self.cr = false;
            } else {
                self.eols = self.eols.saturating_add(1);
                self.cr = b == b'\r';
                if self.eols >= 2 {
                    boundary = Some(i + 1);
                    self.since = 0;
                }
            }
            if self.since > self.max_event {
                return (boundary, true);
            }
            at = i + 1;
        }
        (boundary, false)
    }

    /// Ends the stream with the event naming `limit`.
    fn exceeded(&mut self, what: &'static str, limit: usize) -> Bytes {
        self.done = true;
        self.pending = BytesMut::new();
        let event = format!(
            "\n\ndata: {{\"error\":{{\"message\":\"the reply went past the limit on {what} ({limit})\",\"type\":\"{LIMIT_EVENT_TYPE}\",\"code\":\"{what}\",\"param\":\"{limit}\"}}}}\n\n"
        );
        Bytes::from(event)
    }
}

impl Gate {
    /// Decides what the body is from its first bytes, and removes a
    /// byte-order mark from an event stream; `None` while too few bytes
    /// have come to tell.
    fn first(&mut self, bytes: Bytes) -> Option<Bytes> {
        let mut head = if self.pending.is_empty() {
            bytes
        } else {
            self.pending.extend_from_slice(&bytes);
            self.pending.split().freeze()
        };
        if self.mode == Mode::Sniff {
            let Some(&first) = head.iter().find(|b| !b.is_ascii_whitespace()) else {
                self.pending.extend_from_slice(&head);
                return None;
            };
            if matches!(first, b'{' | b'[') {
                self.mode = Mode::Whole;
                return Some(head);
            }
            self.mode = Mode::Start;
        }
        if head.len() < BOM.len() && BOM.starts_with(&head) {
            self.pending.extend_from_slice(&head);
            return None;
        }
        if head.starts_with(BOM) {
            let _ = head.split_to(BOM.len());
        }
        self.mode = Mode::Events;
        Some(head)
    }

    /// The next piece of an event stream to pass on, if `bytes` completes
    /// one or more events.
    fn events(&mut self, mut bytes: Bytes) -> Option<Bytes> {
        if self.total > self.max_body {
            let max = self.max_body;
            return Some(self.exceeded(BODY_BYTES, max));
        }
        let (boundary, over) = self.scan(&bytes);
        let out = match boundary {
            None => {
                if !over {
                    self.pending.extend_from_slice(&bytes);
                }
                None
            }
            Some(end) if self.pending.is_empty() => {
                let whole = bytes.split_to(end);
                if !over {
                    self.pending.extend_from_slice(&bytes);
                }
                Some(whole)
            }
            Some(end) => {
                self.pending.extend_from_slice(&bytes[..end]);
                let whole = self.pending.split().freeze();
                if !over {
                    self.pending.extend_from_slice(&bytes[end..]);
                }
                Some(whole)
            }
        };
        if over {
            let max = self.max_event;
            let end = self.exceeded(EVENT_BYTES, max);
            // Complete events before the one over the limit still go.
            return Some(match out {
                Some(whole) => [whole, end].concat().into(),
                None => end,
            });
        }
        out
    }
}

impl Stream for Gate {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(this.failed.take().map(|e| Err(e.into())));
            }
            let bytes = match this.upstream.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(bytes))) => bytes,
                Poll::Ready(end) => {
                    // The end, or a read failure (passed on after what is
                    // held, as it came): whatever is held goes on; an event
                    // cut short is the parser's to judge.
                    this.failed = end.and_then(Result::err);
                    this.done = true;
                    if this.pending.is_empty() {
                        continue;
                    }
                    return Poll::Ready(Some(Ok(this.pending.split().freeze())));
                }
            };
            this.total = this.total.saturating_add(bytes.len());
            if matches!(this.mode, Mode::Whole | Mode::Sniff) && this.total > this.max_body {
                this.done = true;
                this.pending = BytesMut::new();
                return Poll::Ready(Some(Err(Box::new(BodyLimit {
                    what: BODY_BYTES,
                    limit: this.max_body as u64,
                }))));
            }
            let bytes = match this.mode {
                Mode::Sniff | Mode::Start => match this.first(bytes) {
                    Some(head) => head,
                    None => continue,
                },
                _ => bytes,
            };
            if this.mode == Mode::Whole {
                // Held until the end: the reader above wants it all anyway.
                this.pending.extend_from_slice(&bytes);
                continue;
            }
            if let Some(piece) = this.events(bytes) {
                return Poll::Ready(Some(Ok(piece)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn gate(parts: Vec<&'static [u8]>, max_body: usize, max_event: usize) -> Gate {
        let upstream = futures::stream::iter(parts.into_iter().map(|p| Ok(Bytes::from_static(p))));
        Gate {
            upstream: Box::pin(upstream),
            mode: Mode::Start,
            max_body,
            max_event,
            total: 0,
            pending: BytesMut::new(),
            eols: 0,
            cr: false,
            since: 0,
            done: false,
            failed: None,
        }
    }

    async fn run(parts: Vec<&'static [u8]>, max_body: usize, max_event: usize) -> Vec<Vec<u8>> {
        gate(parts, max_body, max_event)
            .map(|r| r.expect("sse gates end with an event").to_vec())
            .collect()
            .await
    }

    #[tokio::test]
    async fn whole_events_pass_in_any_split_and_line_ending() {
        let body: &[u8] = b"data: a\n\ndata: b\r\n\r\ndata: c\r\rdata: d\n\n";
        for cut in 0..body.len() {
            let (x, y) = body.split_at(cut);
            let out = run(vec![x, y], 1 << 20, 64).await;
            assert_eq!(out.concat(), body, "cut at {cut}");
            // Every piece passed on but the last ends an event.
            for piece in &out[..out.len().saturating_sub(1)] {
                assert!(
                    piece.ends_with(b"\n") || piece.ends_with(b"\r"),
                    "cut at {cut}: {piece:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn an_event_over_the_limit_ends_the_stream_with_a_limit_event() {
        let out = run(
            vec![b"data: ok\n\ndata: 0123456789", b"0123456789\n\n"],
            1 << 20,
            16,
        )
        .await;
        let text = String::from_utf8(out.concat()).unwrap();
        assert!(text.starts_with("data: ok\n\n"), "{text}");
        assert!(
            !text.contains("0123456789"),
            "nothing of the long event: {text}"
        );
        assert!(
            text.contains(LIMIT_EVENT_TYPE) && text.contains("\"param\":\"16\""),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_stream_over_the_body_limit_ends_at_an_event_boundary() {
        let out = run(vec![b"data: 1\n\n", b"data: 2\n\n", b"data: 3\n\n"], 20, 16).await;
        let text = String::from_utf8(out.concat()).unwrap();
        assert!(text.starts_with("data: 1\n\ndata: 2\n\n"), "{text}");
        assert!(!text.contains("data: 3"), "{text}");
        assert!(text.contains(BODY_BYTES), "{text}");
    }

    #[tokio::test]
    async fn a_whole_body_over_the_limit_fails() {
        let mut g = gate(vec![b"{\"a\":", b"1}"], 6, 0);
        g.mode = Mode::Whole;
        let out: Vec<_> = g.collect().await;
        assert_eq!(out.len(), 1, "nothing of the body, only the error");
        let err = out[0].as_ref().expect_err("over the limit");
        assert_eq!(
            err.downcast_ref::<BodyLimit>(),
            Some(&BodyLimit {
                what: BODY_BYTES,
                limit: 6
            })
        );
    }

    #[tokio::test]
    async fn a_body_not_said_to_be_events_is_told_by_its_first_byte() {
        let mut g = gate(vec![b"  ", b"{\"a\":", b"1}"], 100, 4);
        g.mode = Mode::Sniff;
        let out: Vec<_> = g.map(|r| r.unwrap().to_vec()).collect().await;
        assert_eq!(
            out,
            vec![b"  {\"a\":1}".to_vec()],
            "JSON passes whole, once"
        );

        let mut g = gate(vec![b"data: a\n", b"\ndata: b\n\n"], 100, 64);
        g.mode = Mode::Sniff;
        let out: Vec<_> = g.map(|r| r.unwrap().to_vec()).collect().await;
        assert_eq!(
            out.concat(),
            b"data: a\n\ndata: b\n\n",
            "events pass as they complete"
        );
        assert_eq!(
            out.len(),
            1,
            "the first event completes with the second piece"
        );
    }

    #[tokio::test]
    async fn a_byte_order_mark_is_removed_however_it_is_split() {
        let body: &[u8] = b"\xEF\xBB\xBFdata: a\n\n";
        for cut in 0..body.len() {
            let (x, y) = body.split_at(cut);
            let out = run(vec![x, y], 100, 64).await;
            assert_eq!(out.concat(), b"data: a\n\n", "cut at {cut}");
        }
        // Only at the start.
        let out = run(vec![b"data: \xEF\xBB\xBF\n\n"], 100, 64).await;
        assert_eq!(out.concat(), b"data: \xEF\xBB\xBF\n\n");
    }

    #[test]
    fn limit_events_are_read_back() {
        assert_eq!(
            limit_of_event(Some(LIMIT_EVENT_TYPE), Some(EVENT_BYTES), Some("16")),
            Some(BodyLimit {
                what: EVENT_BYTES,
                limit: 16
            })
        );
        assert_eq!(
            limit_of_event(Some("server_error"), Some(EVENT_BYTES), Some("16")),
            None
        );
        assert_eq!(
            limit_of_event(Some(LIMIT_EVENT_TYPE), Some("other"), Some("16")),
            None
        );
    }
}
