//! [`MemoryListener`]: a [`Listener`] whose connections are in-memory pipes, so that a test
//! drives the real accept loop with no port and, if it likes, on tokio's paused clock.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use tokio::io::DuplexStream;
use tokio::sync::mpsc;

use crate::Listener;

/// How many bytes each direction of a pipe buffers, as a socket's kernel buffers would.
const PIPE_BUFFER: usize = 64 * 1024;

/// The first port of the peers [`MemoryConnector::connect`] makes up.
const FIRST_PORT: u16 = 40_000;

/// A [`Listener`] fed by a [`MemoryConnector`]: each [`connect`](MemoryConnector::connect) is a
/// [`tokio::io::duplex`] pipe whose far end the server accepts, with a made-up peer address.
///
/// Nothing in it touches the operating system, so a server test can run under
/// `#[tokio::test(start_paused = true)]`: with no real IO outstanding, the clock moves only when
/// every task waits, straight to the next timer, and a 10 s handshake timeout takes no time and
/// fires exactly at 10 s. (Over real TCP the runtime cannot tell "waiting for the kernel" from
/// "idle", and auto-advance can fire timers early.)
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use chanx::testing::MemoryListener;
/// use chanx::{Router, Settings};
/// use tokio::io::AsyncReadExt;
///
/// let router = Router::new().with_settings(Settings::default().handshake_timeout(std::time::Duration::from_secs(3)));
/// let (listener, connector) = MemoryListener::new();
/// let serving = chanx::serve(listener, router).with_graceful_shutdown(std::future::pending());
/// tokio::spawn(std::future::IntoFuture::into_future(serving));
///
/// // A client that sends nothing is cut off at the handshake timeout, in virtual time.
/// let started = tokio::time::Instant::now();
/// let mut silent = connector.connect().expect("the server listens");
/// let mut buf = [0; 64];
/// let _ = silent.read(&mut buf).await; // 0 bytes (closed) or a 408
/// assert_eq!(started.elapsed(), std::time::Duration::from_secs(3));
/// # }
/// ```
#[derive(Debug)]
pub struct MemoryListener {
    incoming: mpsc::UnboundedReceiver<(DuplexStream, SocketAddr)>,
    local: SocketAddr,
}

/// The client side of a [`MemoryListener`]: opens connections to it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MemoryConnector {
    sender: mpsc::UnboundedSender<(DuplexStream, SocketAddr)>,
    next_port: Arc<AtomicU16>,
}

impl MemoryListener {
    /// A listener and the connector that reaches it. The listener's
    /// [`local_addr`](Listener::local_addr) is `127.0.0.1:0`.
    ///
    /// ```
    /// use chanx::Listener;
    /// let (listener, _connector) = chanx::testing::MemoryListener::new();
    /// assert_eq!(listener.local_addr().unwrap().to_string(), "127.0.0.1:0");
    /// ```
    pub fn new() -> (MemoryListener, MemoryConnector) {
        let (sender, incoming) = mpsc::unbounded_channel();
        let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        (
            MemoryListener { incoming, local },
            MemoryConnector { sender, next_port: Arc::new(AtomicU16::new(FIRST_PORT)) },
        )
    }
}

impl MemoryConnector {
    /// A new connection from `127.0.0.1`, each from another port, as local TCP clients are:
    /// they all count under one address's
    /// [`max_connections_per_peer`](crate::Settings::max_connections_per_peer).
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::ConnectionRefused`] once the listener is dropped (the server stopped
    /// accepting).
    ///
    /// ```
    /// let (listener, connector) = chanx::testing::MemoryListener::new();
    /// assert!(connector.connect().is_ok());
    /// drop(listener);
    /// assert_eq!(connector.connect().unwrap_err().kind(), std::io::ErrorKind::ConnectionRefused);
    /// ```
    pub fn connect(&self) -> io::Result<DuplexStream> {
        let port = self.next_port.fetch_add(1, Ordering::Relaxed);
        self.connect_from(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    }

    /// A new connection whose peer address is `peer`, to test what depends on it (per-peer
    /// caps, [`Scope::peer_addr`](crate::Scope::peer_addr), axum's `ConnectInfo`).
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::ConnectionRefused`] once the listener is dropped.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use chanx::Listener;
    /// let (mut listener, connector) = chanx::testing::MemoryListener::new();
    /// let _client = connector.connect_from("192.0.2.7:5000".parse().unwrap()).unwrap();
    /// let (_server_side, peer) = listener.accept().await.unwrap();
    /// assert_eq!(peer.to_string(), "192.0.2.7:5000");
    /// # }
    /// ```
    pub fn connect_from(&self, peer: SocketAddr) -> io::Result<DuplexStream> {
        let (client, server) = tokio::io::duplex(PIPE_BUFFER);
        self.sender
            .send((server, peer))
            .map_err(|_| io::Error::new(io::ErrorKind::ConnectionRefused, "the memory listener was dropped"))?;
        Ok(client)
    }
}

impl Listener for MemoryListener {
    type Io = DuplexStream;
    type Addr = SocketAddr;

    /// The next connection; once every [`MemoryConnector`] is dropped, waits forever, as a TCP
    /// listener nobody connects to does.
    async fn accept(&mut self) -> io::Result<(DuplexStream, SocketAddr)> {
        match self.incoming.recv().await {
            Some(accepted) => Ok(accepted),
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    fn socket_addr(addr: &SocketAddr) -> Option<SocketAddr> {
        Some(*addr)
    }
}
