//! A response on the wire (`Wire`), how one is built (`Resp`), and the raw
//! server that writes it.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// One response on the wire, as the server writes it.
pub(crate) struct Wire {
    /// Status line, headers and body.
    pub(crate) bytes: Vec<u8>,
    /// Offsets where a write ends and the next begins after `gap`.
    pub(crate) cuts: Vec<usize>,
    pub(crate) gap: Duration,
    /// The status is a valid non-2xx one: the transport reads the body as
    /// an error's.
    pub(crate) error_status: bool,
    /// Bytes after the head.
    pub(crate) body_len: usize,
    /// The variant, in words.
    pub(crate) note: String,
    /// A success here would mean a limit was not enforced.
    pub(crate) must_fail: Option<&'static str>,
}

impl Wire {
    pub(crate) fn raw(bytes: Vec<u8>, note: impl Into<String>) -> Self {
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

    pub(crate) fn must_fail(mut self, why: &'static str) -> Self {
        self.must_fail = Some(why);
        self
    }

    /// Writes the body (after the head) in pieces of `every` bytes, `gap`
    /// apart.
    pub(crate) fn trickle(mut self, every: usize, gap: Duration) -> Self {
        let start = self.bytes.len() - self.body_len;
        self.cuts = (start..self.bytes.len()).step_by(every.max(1)).collect();
        self.gap = gap;
        self
    }

    /// The first bytes, printable, for a report.
    pub(crate) fn head(&self, n: usize) -> String {
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
pub(crate) enum Length {
    Exact,
    Absent,
    Value(Vec<u8>),
}

/// A response being built.
pub(crate) struct Resp {
    status_line: Vec<u8>,
    status: Option<u16>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) body: Vec<u8>,
    length: Length,
}

pub(crate) fn resp(status: u16) -> Resp {
    Resp {
        status_line: format!("HTTP/1.1 {status} X\r\n").into_bytes(),
        status: Some(status),
        headers: vec![(b"Connection".to_vec(), b"close".to_vec())],
        body: Vec::new(),
        length: Length::Exact,
    }
}

impl Resp {
    pub(crate) fn status_line(mut self, line: &[u8], status: Option<u16>) -> Self {
        self.status_line = line.to_vec();
        self.status = status;
        self
    }

    pub(crate) fn header(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.as_ref().to_vec(), value.as_ref().to_vec()));
        self
    }

    pub(crate) fn ct(self, value: &str) -> Self {
        self.header("Content-Type", value)
    }

    pub(crate) fn json(self, body: impl Into<Vec<u8>>) -> Self {
        self.ct("application/json").body(body)
    }

    pub(crate) fn sse(self, body: impl Into<Vec<u8>>) -> Self {
        self.ct("text/event-stream").body(body)
    }

    pub(crate) fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub(crate) fn length(mut self, length: Length) -> Self {
        self.length = length;
        self
    }

    pub(crate) fn wire(self, note: impl Into<String>) -> Wire {
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

/// The raw server: answers every request with the current case's response.
pub(crate) struct RawServer {
    pub(crate) base_url: String,
    current: Arc<Mutex<Arc<Wire>>>,
}

impl RawServer {
    pub(crate) async fn start() -> Self {
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

    pub(crate) fn set(&self, wire: Arc<Wire>) {
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
