//! The listener: counts connections, can abort one on request, and
//! optionally speaks TLS.
//!
//! axum's `serve` accepts any [`Listener`]; wrapping the accepted streams is
//! the one place where the server sees connections (not requests), so the
//! counts, the reset fault and TLS live here.
//!
//! TCP accepts run in their own task and each TLS handshake in a task of its
//! own, so a slow handshake never holds up the next connection: a benchmark
//! that opens a connection per request measures the client's handshakes,
//! not a queue in front of the server.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Connection counters shared with the server handle.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) accepted: AtomicU64,
    pub(crate) open: AtomicU64,
}

/// Hands accepted (and, with TLS, handshaken) connections to axum.
pub(crate) struct TrackedListener {
    ready: mpsc::Receiver<(Tracked, Conn)>,
}

impl TrackedListener {
    /// Starts accepting on `tcp` in a task of its own; with `tls`, each
    /// connection is handshaken before axum sees it. The task ends when the
    /// listener is dropped.
    pub(crate) fn spawn(
        tcp: TcpListener,
        counters: Arc<Counters>,
        tls: Option<TlsAcceptor>,
    ) -> Self {
        // Enough to absorb a burst of connects while axum is busy; beyond
        // it, accepts wait (the kernel backlog holds the rest).
        let (tx, ready) = mpsc::channel(1024);
        tokio::spawn(accept_loop(tcp, counters, tls, tx));
        Self { ready }
    }
}

async fn accept_loop(
    tcp: TcpListener,
    counters: Arc<Counters>,
    tls: Option<TlsAcceptor>,
    tx: mpsc::Sender<(Tracked, Conn)>,
) {
    loop {
        let accepted = tokio::select! {
            () = tx.closed() => return,
            accepted = tcp.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            // Out of descriptors and the like: back off briefly, as axum's
            // own TcpListener impl does.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        counters.accepted.fetch_add(1, Ordering::SeqCst);
        let open = OpenGuard::new(&counters);
        match &tls {
            None => {
                if tx
                    .send(Tracked::new(Io::Plain(stream), open))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    // A client that connects and never speaks TLS must not
                    // hold a task forever.
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                    if let Ok(Ok(stream)) = handshake.await {
                        let _ = tx.send(Tracked::new(Io::Tls(Box::new(stream)), open)).await;
                    }
                });
            }
        }
    }
}

/// Identifies a connection to request handlers, which may abort it.
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    kill: Arc<AtomicBool>,
}

impl Conn {
    /// Aborts the connection: its next read or write fails, and hyper drops
    /// it without finishing the response.
    pub(crate) fn reset(&self) {
        self.kill.store(true, Ordering::SeqCst);
    }
}

impl Listener for TrackedListener {
    type Io = Tracked;
    type Addr = Conn;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept task only ends once this listener is gone, so this
            // is unreachable in practice; waiting forever is what a listener
            // with nothing more to accept does.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(Conn {
            kill: Arc::new(AtomicBool::new(false)),
        })
    }
}

impl Connected<IncomingStream<'_, TrackedListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, TrackedListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// Counts a connection as open from accept until it is dropped, including
/// while its TLS handshake runs.
struct OpenGuard(Arc<Counters>);

impl OpenGuard {
    fn new(counters: &Arc<Counters>) -> Self {
        counters.open.fetch_add(1, Ordering::SeqCst);
        Self(counters.clone())
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Io {
    fn tcp(&self) -> &TcpStream {
        match self {
            Io::Plain(s) => s,
            Io::Tls(s) => s.get_ref().0,
        }
    }
}

/// An accepted connection.
pub(crate) struct Tracked {
    io: Io,
    kill: Arc<AtomicBool>,
    _open: OpenGuard,
}

impl Tracked {
    fn new(io: Io, open: OpenGuard) -> (Self, Conn) {
        let kill = Arc::new(AtomicBool::new(false));
        let conn = Conn { kill: kill.clone() };
        let tracked = Self {
            io,
            kill,
            _open: open,
        };
        (tracked, conn)
    }

    fn killed(&self) -> bool {
        self.kill.load(Ordering::SeqCst)
    }
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "fault: connection reset")
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(reset_error()));
        }
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.killed() {
            // Linger 0 makes the close a real RST, as a crashed peer's.
            let _ = self.io.tcp().set_zero_linger();
            return Poll::Ready(Err(reset_error()));
        }
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
