//! Connections: a cap on how many are open (past it, new ones wait in the kernel's
//! backlog), a deadline for each request's headers, so clients that trickle bytes
//! (slowloris) cannot hold connections open, and the drain that begins a shutdown.

use std::future::Future;
use std::io::Result as IoResult;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use poem::http::Version;
use poem::http::header::{CONNECTION, HeaderValue};
use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, EndpointExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};

/// The first step of a graceful shutdown. Once started, new connections are refused;
/// requests already sent, and those arriving on open connections within `grace`, are
/// answered with `Connection: close`; connections still idle after `grace` are closed.
/// Closing an idle keep-alive connection at once would drop a request the client has
/// just written, and the client would see a network error instead of an answer.
#[derive(Clone, Debug)]
pub struct Drain {
    grace: Duration,
    /// The end of the grace, once the drain has started.
    until: Arc<watch::Sender<Option<Instant>>>,
}

impl Drain {
    pub fn new(grace: Duration) -> Self {
        Self {
            grace,
            until: Arc::new(watch::channel(None).0),
        }
    }

    pub fn start(&self) {
        self.until.send_if_modified(|until| {
            let first = until.is_none();
            until.get_or_insert_with(|| Instant::now() + self.grace);
            first
        });
    }

    pub fn is_started(&self) -> bool {
        self.until.borrow().is_some()
    }

    /// Completes when the drain starts, with the end of its grace.
    fn started(&self) -> impl Future<Output = Instant> + Send + 'static {
        let mut until = self.until.subscribe();
        async move {
            let started = until.wait_for(Option::is_some).await.map(|until| *until);
            match started {
                Ok(until) => until.unwrap_or_else(Instant::now),
                Err(_) => std::future::pending().await,
            }
        }
    }
}

/// Every response given while draining carries `Connection: close`: the client sends
/// nothing more on that connection, and the server closes it after the response
/// (RFC 9112 §9.6).
pub fn close_when_draining<E: Endpoint + 'static>(endpoint: E, drain: Drain) -> impl Endpoint {
    endpoint.around(move |endpoint, request| {
        let drain = drain.clone();
        async move {
            // HTTP/2 has no `Connection` header; poem's own shutdown sends it GOAWAY.
            let http1 = request.version() < Version::HTTP_2;
            let mut response = endpoint.get_response(request).await;
            if http1 && drain.is_started() {
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(response)
        }
    })
}

/// Accepts at most `limit` connections at a time; each must send a request's headers
/// within `header_timeout` of starting it. Stops accepting when `drain` starts.
pub struct LimitedAcceptor<A> {
    /// The listener; dropped (its socket closed) when the drain starts.
    inner: Option<A>,
    local_addr: Vec<LocalAddr>,
    permits: Arc<Semaphore>,
    limit: u32,
    header_timeout: Duration,
    drain: Drain,
}

impl<A: Acceptor> LimitedAcceptor<A> {
    pub fn new(inner: A, limit: usize, header_timeout: Duration, drain: Drain) -> Self {
        let limit = u32::try_from(limit.max(1)).unwrap_or(Semaphore::MAX_PERMITS as u32);
        Self {
            local_addr: inner.local_addr(),
            inner: Some(inner),
            permits: Arc::new(Semaphore::new(limit as usize)),
            limit,
            header_timeout,
            drain,
        }
    }

    /// Completes once no connection is open (every slot is free). Meant for a drain:
    /// it holds the slots, so the acceptor must have stopped.
    pub fn all_closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let (permits, limit) = (self.permits.clone(), self.limit);
        async move {
            let _all = permits.acquire_many_owned(limit).await;
        }
    }
}

impl<A: Acceptor> Acceptor for LimitedAcceptor<A> {
    type Io = Counted<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.local_addr.clone()
    }

    async fn accept(&mut self) -> IoResult<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let Some(inner) = self.inner.as_mut() else {
            return std::future::pending().await;
        };
        let accepted = tokio::select! {
            biased;
            _ = self.drain.started() => None,
            accepted = async {
                let permit = self
                    .permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(std::io::Error::other)?;
                Ok::<_, std::io::Error>((permit, inner.accept().await?))
            } => Some(accepted),
        };
        let Some(accepted) = accepted else {
            // Closing the listening socket refuses new connections at once, so a load
            // balancer moves on instead of waiting in a backlog nobody reads.
            self.inner = None;
            return std::future::pending().await;
        };
        let (permit, (io, local, remote, scheme)) = accepted?;
        let counted = Counted {
            io,
            _permit: permit,
            header_timeout: self.header_timeout,
            // The first request's headers are due from the moment of connection.
            awaiting_headers: true,
            idle: true,
            deadline: Some(Box::pin(tokio::time::sleep(self.header_timeout))),
            tail: [0; 3],
            drain: Box::pin(self.drain.started()),
            closing: None,
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
    /// Between requests: not a byte of the next one yet.
    idle: bool,
    /// Armed from a request's first byte until its headers end.
    deadline: Option<Pin<Box<Sleep>>>,
    /// The last bytes read, to find the blank line across reads.
    tail: [u8; 3],
    /// Completes when the server starts draining.
    drain: Pin<Box<dyn Future<Output = Instant> + Send>>,
    /// The end of the drain's grace, once it has started.
    closing: Option<Pin<Box<Sleep>>>,
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
        if polled.is_pending() && self.idle {
            if self.closing.is_none()
                && let Poll::Ready(until) = self.drain.as_mut().poll(cx)
            {
                self.closing = Some(Box::pin(tokio::time::sleep_until(until)));
            }
            if let Some(closing) = self.closing.as_mut()
                && closing.as_mut().poll(cx).is_ready()
            {
                // Draining, and no request came within the grace: end of stream, which
                // closes the connection cleanly between requests.
                return Poll::Ready(Ok(()));
            }
        }
        if let Poll::Ready(Ok(())) = polled {
            let data = buf.filled()[before..].to_vec();
            if !data.is_empty() {
                self.idle = false;
            }
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
            self.idle = true;
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
