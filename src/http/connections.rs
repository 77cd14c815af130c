//! A cap on open connections: past it, new connections wait in the kernel's backlog
//! instead of each costing the server memory and a task (slow clients cannot pile up).

use std::io::Result as IoResult;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Accepts at most `limit` connections at a time.
pub struct LimitedAcceptor<A> {
    inner: A,
    permits: Arc<Semaphore>,
}

impl<A> LimitedAcceptor<A> {
    pub fn new(inner: A, limit: usize) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(limit.max(1))),
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
        Ok((
            Counted {
                io,
                _permit: permit,
            },
            local,
            remote,
            scheme,
        ))
    }
}

/// A connection that gives its slot back when closed.
pub struct Counted<T> {
    io: T,
    _permit: OwnedSemaphorePermit,
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<IoResult<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<IoResult<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<IoResult<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<IoResult<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
