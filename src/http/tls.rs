//! HTTPS served directly: the certificate and key are loaded (and checked) at start,
//! and each connection's handshake runs on that connection's own task, so a slow
//! handshake holds up no one else.

use std::future::Future;
use std::io::{Error as IoError, Result as IoResult};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use openssl::ssl::{Ssl, SslAcceptor, SslFiletype, SslMethod};
use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_openssl::SslStream;

/// Wraps an acceptor's connections in TLS.
pub struct TlsAcceptor<A> {
    inner: A,
    ssl: Arc<SslAcceptor>,
}

impl<A> TlsAcceptor<A> {
    /// Loads the certificate chain and key (PEM); fails at once if they do not match.
    pub fn new(inner: A, cert: &Path, key: &Path) -> Result<Self, String> {
        let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
            .map_err(|e| e.to_string())?;
        builder
            .set_certificate_chain_file(cert)
            .map_err(|e| format!("{}: {e}", cert.display()))?;
        builder
            .set_private_key_file(key, SslFiletype::PEM)
            .map_err(|e| format!("{}: {e}", key.display()))?;
        builder
            .check_private_key()
            .map_err(|e| format!("the key does not match the certificate: {e}"))?;
        Ok(Self {
            inner,
            ssl: Arc::new(builder.build()),
        })
    }
}

impl<A: Acceptor> Acceptor for TlsAcceptor<A> {
    type Io = Handshake<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> IoResult<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, _) = self.inner.accept().await?;
        let ssl = Ssl::new(self.ssl.context()).map_err(IoError::other)?;
        let mut stream = SslStream::new(ssl, io).map_err(IoError::other)?;
        let handshake = async move {
            Pin::new(&mut stream)
                .accept()
                .await
                .map_err(IoError::other)?;
            Ok(stream)
        };
        Ok((
            Handshake::Pending(Box::pin(handshake)),
            local,
            remote,
            Scheme::HTTPS,
        ))
    }
}

type Handshaking<T> = Pin<Box<dyn Future<Output = IoResult<SslStream<T>>> + Send>>;

/// A TLS connection whose handshake completes on first use.
pub enum Handshake<T> {
    Pending(Handshaking<T>),
    Ready(SslStream<T>),
}

impl<T: AsyncRead + AsyncWrite + Unpin> Handshake<T> {
    fn ready(&mut self, cx: &mut Context<'_>) -> Poll<IoResult<&mut SslStream<T>>> {
        if let Self::Pending(handshake) = self {
            match handshake.as_mut().poll(cx) {
                Poll::Ready(Ok(stream)) => *self = Self::Ready(stream),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        match self {
            Self::Ready(stream) => Poll::Ready(Ok(stream)),
            Self::Pending(_) => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for Handshake<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<IoResult<()>> {
        match self.get_mut().ready(cx) {
            Poll::Ready(Ok(stream)) => Pin::new(stream).poll_read(cx, buf),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Handshake<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<IoResult<usize>> {
        match self.get_mut().ready(cx) {
            Poll::Ready(Ok(stream)) => Pin::new(stream).poll_write(cx, buf),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<IoResult<()>> {
        match self.get_mut().ready(cx) {
            Poll::Ready(Ok(stream)) => Pin::new(stream).poll_flush(cx),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<IoResult<()>> {
        match self.get_mut().ready(cx) {
            Poll::Ready(Ok(stream)) => Pin::new(stream).poll_shutdown(cx),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}
