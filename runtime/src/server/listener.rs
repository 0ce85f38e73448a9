//! A TCP listener that counts connections and can abort one on request.
//!
//! axum's `serve` accepts any [`Listener`]; wrapping the accepted streams is
//! the one place where the server sees connections (not requests), so the
//! counts and the reset fault live here.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Connection counters shared with the server handle.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) accepted: AtomicU64,
    pub(crate) open: AtomicU64,
}

/// Accepts TCP connections and wraps each in a [`Tracked`] stream.
pub(crate) struct TrackedListener {
    pub(crate) inner: TcpListener,
    pub(crate) counters: Arc<Counters>,
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
        loop {
            match self.inner.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    self.counters.accepted.fetch_add(1, Ordering::SeqCst);
                    self.counters.open.fetch_add(1, Ordering::SeqCst);
                    let kill = Arc::new(AtomicBool::new(false));
                    let conn = Conn { kill: kill.clone() };
                    let io = Tracked {
                        inner: stream,
                        kill,
                        counters: self.counters.clone(),
                    };
                    return (io, conn);
                }
                // Out of descriptors and the like: back off briefly, as
                // axum's own TcpListener impl does.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
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

/// An accepted connection; decrements the open count when dropped.
pub(crate) struct Tracked {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
    counters: Arc<Counters>,
}

impl Tracked {
    fn killed(&self) -> bool {
        self.kill.load(Ordering::SeqCst)
    }
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "fault: connection reset")
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.counters.open.fetch_sub(1, Ordering::SeqCst);
    }
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
        Pin::new(&mut self.inner).poll_read(cx, buf)
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
            let _ = self.inner.set_zero_linger();
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
