//! [`Listener`]: what [`serve`](crate::serve) and `chanx::axum::serve` accept connections from —
//! a TCP listener, a Unix socket, or an in-memory pipe
//! ([`MemoryListener`](crate::testing::MemoryListener)).

use std::fmt::Debug;
use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};

/// A source of connections for [`serve`](crate::serve) and `chanx::axum::serve`, shaped like
/// axum 0.8's `axum::serve::Listener`: [`accept`](Self::accept) yields a stream and its peer's
/// address, [`local_addr`](Self::local_addr) says where it listens.
///
/// Implemented for [`tokio::net::TcpListener`] (each accepted socket gets `TCP_NODELAY`),
/// [`tokio::net::UnixListener`] (on Unix) and [`MemoryListener`](crate::testing::MemoryListener)
/// (tests). Two differences from axum's trait: `accept` may fail, and the server then logs the
/// error and waits 50 ms before accepting again (so an implementation need not handle
/// `EMFILE` itself); and [`socket_addr`](Self::socket_addr) tells the server which peers have an
/// IP address.
///
/// A connection whose peer has no IP address (a Unix socket's, by default) is not counted under
/// [`Settings::max_connections_per_peer`](crate::Settings::max_connections_per_peer): behind a
/// reverse proxy on a Unix socket every connection comes from the proxy. It still counts under
/// [`Settings::max_connections`](crate::Settings::max_connections), and the other limits apply
/// as over TCP.
///
/// ```no_run
/// use std::io;
/// use std::net::SocketAddr;
///
/// /// A TCP listener that leaves Nagle's algorithm on.
/// struct Batching(tokio::net::TcpListener);
///
/// impl chanx::Listener for Batching {
///     type Io = tokio::net::TcpStream;
///     type Addr = SocketAddr;
///
///     async fn accept(&mut self) -> io::Result<(Self::Io, Self::Addr)> {
///         self.0.accept().await
///     }
///
///     fn local_addr(&self) -> io::Result<SocketAddr> {
///         self.0.local_addr()
///     }
///
///     fn socket_addr(addr: &SocketAddr) -> Option<SocketAddr> {
///         Some(*addr)
///     }
/// }
///
/// # async fn run(router: chanx::Router) -> io::Result<()> {
/// let listener = Batching(tokio::net::TcpListener::bind("127.0.0.1:8000").await?);
/// chanx::serve(listener, router).await
/// # }
/// ```
pub trait Listener: Send + 'static {
    /// An accepted connection.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// A peer's (and the listener's own) address. axum handlers served by
    /// `chanx::axum::serve` extract it as `ConnectInfo<Self::Addr>`.
    type Addr: Clone + Debug + Send + Sync + 'static;

    /// The next connection and its peer's address.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Io, Self::Addr)>> + Send;

    /// The address this listener is bound to.
    fn local_addr(&self) -> io::Result<Self::Addr>;

    /// The peer's IP address and port, when it has one: it keys
    /// [`Settings::max_connections_per_peer`](crate::Settings::max_connections_per_peer), is the
    /// socket's [`Scope::peer_addr`](crate::Scope::peer_addr), and reaches axum handlers as
    /// `ConnectInfo<SocketAddr>`. Defaults to `None`: no per-peer cap, no `peer_addr`.
    ///
    /// ```
    /// use chanx::Listener;
    /// let peer: std::net::SocketAddr = "192.0.2.7:51000".parse().unwrap();
    /// assert_eq!(tokio::net::TcpListener::socket_addr(&peer), Some(peer));
    /// ```
    fn socket_addr(addr: &Self::Addr) -> Option<SocketAddr> {
        let _ = addr;
        None
    }
}

/// TCP: every accepted socket gets `TCP_NODELAY`, since frames are small and latency matters
/// (without it, Nagle's algorithm and delayed ACKs hold frames back for tens of milliseconds).
///
/// ```no_run
/// # async fn run(router: chanx::Router) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:8000").await?;
/// chanx::serve(listener, router).await
/// # }
/// ```
impl Listener for tokio::net::TcpListener {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> io::Result<(Self::Io, Self::Addr)> {
        let (stream, peer) = tokio::net::TcpListener::accept(self).await?;
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, ?peer, "could not set TCP_NODELAY");
        }
        Ok((stream, peer))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::TcpListener::local_addr(self)
    }

    fn socket_addr(addr: &SocketAddr) -> Option<SocketAddr> {
        Some(*addr)
    }
}

/// A Unix domain socket, as behind a reverse proxy on the same host. Its peers have no IP
/// address: no per-peer cap applies, and [`Scope::peer_addr`](crate::Scope::peer_addr) is `None`
/// (a proxy's `X-Forwarded-For` header is in the scope's headers).
///
/// ```no_run
/// # async fn run(router: chanx::Router) -> std::io::Result<()> {
/// let listener = tokio::net::UnixListener::bind("/run/chat/chanx.sock")?;
/// chanx::serve(listener, router).await
/// # }
/// ```
#[cfg(unix)]
impl Listener for tokio::net::UnixListener {
    type Io = tokio::net::UnixStream;
    type Addr = tokio::net::unix::SocketAddr;

    async fn accept(&mut self) -> io::Result<(Self::Io, Self::Addr)> {
        tokio::net::UnixListener::accept(self).await
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        tokio::net::UnixListener::local_addr(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_tcp_sockets_get_tcp_nodelay() {
        let mut listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = Listener::local_addr(&listener).expect("addr");
        let _client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (stream, peer) = Listener::accept(&mut listener).await.expect("accept");
        assert_eq!(stream.nodelay().ok(), Some(true));
        assert_eq!(tokio::net::TcpListener::socket_addr(&peer), Some(peer));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn unix_peers_have_no_ip_address() {
        let path = std::env::temp_dir().join(format!("chanx-listener-{}.sock", uuid::Uuid::new_v4().simple()));
        let mut listener = tokio::net::UnixListener::bind(&path).expect("bind");
        let _client = tokio::net::UnixStream::connect(&path).await.expect("connect");
        let (_stream, peer) = Listener::accept(&mut listener).await.expect("accept");
        assert_eq!(tokio::net::UnixListener::socket_addr(&peer), None);
        assert_eq!(Listener::local_addr(&listener).expect("addr").as_pathname(), Some(path.as_path()));
        let _ = std::fs::remove_file(&path);
    }
}
