//! Connections: a cap on how many are open (past it, new ones wait in the kernel's
//! backlog), and a deadline for each request's headers, so clients that trickle bytes
//! (slowloris) cannot hold connections open.

use std::future::Future;
use std::io::Result as IoResult;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

/// Accepts at most `limit` connections at a time; each must send a request's headers
/// within `header_timeout` of starting it.
pub struct LimitedAcceptor<A> {
    inner: A,
    permits: Arc<Semaphore>,
    header_timeout: Duration,
}

impl<A> LimitedAcceptor<A> {
    pub fn new(inner: A, limit: usize, header_timeout: Duration) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(limit.max(1))),
            header_timeout,
        }
    }
}

impl<A: Acceptor> Acceptor for LimitedAcceptor<A> {
    type Io = Counted<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> IoResult<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(std::io::Error::other)?;
        let (io, local, remote, scheme) = self.inner.accept().await?;
        let counted = Counted {
            io,
            _permit: permit,
            header_timeout: self.header_timeout,
            // The first request's headers are due from the moment of connection.
            awaiting_headers: true,
            deadline: Some(Box::pin(tokio::time::sleep(self.header_timeout))),
            tail: [0; 3],
        };
        Ok((counted, local, remote, scheme))
    }
}

/// A connection that gives its slot back when closed, and is cut off when a request's
/// headers take longer than the deadline.
pub struct Counted<T> {
    io: T,
    _permit: OwnedSemaphorePermit,
    header_timeout: Duration,
    /// Between requests, or inside a request's headers.
    awaiting_headers: bool,
    /// Armed from a request's first byte until its headers end.
    deadline: Option<Pin<Box<Sleep>>>,
    /// The last bytes read, to find the blank line across reads.
    tail: [u8; 3],
}

impl<T> Counted<T> {
    /// Notes bytes read; true when they end the headers being awaited.
    fn headers_end_in(&mut self, data: &[u8]) -> bool {
        let mut window: Vec<u8> = Vec::with_capacity(data.len() + 3);
        window.extend_from_slice(&self.tail);
        window.extend_from_slice(data);
        let found = window.windows(4).any(|w| w == b"\r\n\r\n");
        let keep = window.len().min(3);
        self.tail = [0; 3];
        self.tail[3 - keep..].copy_from_slice(&window[window.len() - keep..]);
        found
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<IoResult<()>> {
        if self.awaiting_headers
            && let Some(deadline) = self.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "request headers took too long",
            )));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let data = buf.filled()[before..].to_vec();
            if self.awaiting_headers && !data.is_empty() {
                if self.deadline.is_none() {
                    let timeout = self.header_timeout;
                    self.deadline = Some(Box::pin(tokio::time::sleep(timeout)));
                }
                if self.headers_end_in(&data) {
                    self.awaiting_headers = false;
                    self.deadline = None;
                }
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<IoResult<usize>> {
        // A response is going out: what the client sends next starts a new request, whose
        // deadline starts with its first byte (idle time is the idle timeout's business).
        if !self.awaiting_headers {
            self.awaiting_headers = true;
            self.tail = [0; 3];
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<IoResult<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<IoResult<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
