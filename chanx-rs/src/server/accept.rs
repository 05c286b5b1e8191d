//! The accept loop shared by [`serve`](crate::serve) and `chanx::axum::serve`, over any
//! [`Listener`]: the connection caps, the header and request timeouts, and the graceful shutdown
//! of HTTP connections beside the router's WebSockets.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{Either, Empty};
use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::Listener;
use super::upgrade::{self, Head, Prefixed};
use crate::Router;
use crate::metrics::OpenTcp;
use crate::shutdown;
use crate::signal::PollGate;

/// A future that resolves when the server should shut down.
pub(crate) type Signal = Pin<Box<dyn Future<Output = ()> + Send>>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Accepts on `listener` until `signal`, serving each connection with the service
/// `make_service` builds for its peer's address; then closes the router's WebSockets with 1001
/// and lets HTTP requests in flight finish, both within the shutdown timeout. With `direct`, a
/// connection that opens with a WebSocket handshake on one of the router's paths skips hyper
/// ([`super::upgrade`]).
pub(crate) async fn run<L, F, S>(mut listener: L, router: Arc<Router>, signal: Signal, direct: bool, make_service: F)
where
    L: Listener,
    F: Fn(&L::Addr) -> S,
    S: AppService,
{
    let settings = router.settings();
    let header_timeout = settings.handshake_timeout;
    let request_timeout = settings.request_timeout;
    let cap = settings.max_connections.map(|max| Arc::new(Semaphore::new(max)));
    let per_peer = settings.max_connections_per_peer.map(|max| Arc::new(PeerCounts::new(max)));
    let metrics = router.metrics().clone();
    // Every HTTP connection holds a receiver: "all dropped" means "all finished".
    let (http, _) = watch::channel(false);
    // Logged once per stretch of refusals, not once per refused peer.
    let mut refusing = false;
    tokio::pin!(signal);
    loop {
        let accepted = tokio::select! {
            () = &mut signal => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and similar: wait instead of spinning or exiting.
                tracing::error!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = match &cap {
            None => None,
            Some(cap) => match cap.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    metrics.tcp_refused_max_connections();
                    if !std::mem::replace(&mut refusing, true) {
                        tracing::warn!(
                            max_connections = settings.max_connections,
                            "too many open connections: closing new ones at once until some end"
                        );
                    }
                    drop(stream);
                    continue;
                }
            },
        };
        let peer_place = match (&per_peer, L::socket_addr(&peer)) {
            // Peers without an IP address (a Unix socket's) are not capped one by one.
            (None, _) | (_, None) => None,
            (Some(counts), Some(ip)) => match counts.clone().take(ip.ip()) {
                Some(place) => Some(place),
                None => {
                    metrics.tcp_refused_per_peer();
                    tracing::debug!(?peer, "too many connections from this address: closing the new one at once");
                    drop(stream);
                    continue;
                }
            },
        };
        refusing = false;
        let service = WithinTimeout { inner: make_service(&peer), timeout: request_timeout };
        let io = Counted { stream, _permit: permit, _peer_place: peer_place, _open: metrics.tcp_opened() };
        let shutdown = http.subscribe();
        if direct {
            let ip = L::socket_addr(&peer);
            tokio::spawn(serve_direct(io, peer, service, header_timeout, shutdown, router.clone(), ip));
        } else {
            tokio::spawn(serve_http(io, peer, service, header_timeout, shutdown));
        }
    }
    drop(listener);
    tracing::info!("shutting down: no longer accepting; closing sockets (going away) and finishing HTTP requests");
    let timeout = settings.shutdown_timeout;
    let http_finished = async {
        http.send_replace(true);
        tokio::time::timeout(timeout, http.closed()).await.is_ok()
    };
    let (_, finished) = tokio::join!(router.shutdown(), http_finished);
    if !finished {
        tracing::warn!(?timeout, "HTTP connections still open after the shutdown timeout were dropped");
    }
}

/// What the first request of a directly served connection turned out to be.
enum Opened<I> {
    /// An accepted handshake, answered: the router's connection over the socket, boxed.
    WebSocket(Pin<Box<dyn Future<Output = ()> + Send>>),
    /// Not a handshake taken here: hyper's, starting with the bytes already read.
    Http { head: Vec<u8>, io: Counted<I> },
    /// Refused and answered, timed out, failed, or cut short by shutdown.
    Done,
}

/// Serves one accepted connection of [`serve`](crate::serve): a WebSocket handshake on one of
/// `router`'s paths in this task without hyper ([`upgrade::take`]), anything else over hyper.
///
/// The task lives as long as the socket, so its future is kept small: a block rather than an
/// async fn (which would keep a second copy of its arguments), the handshake's state boxed and
/// freed once answered (docs/benchmarks.md, "Idle memory").
#[allow(clippy::manual_async_fn)] // the block is the point: see above
fn serve_direct<I, A, S>(
    io: Counted<I>,
    peer: A,
    service: WithinTimeout<S>,
    header_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
    router: Arc<Router>,
    ip: Option<SocketAddr>,
) -> impl Future<Output = ()> + Send
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    A: std::fmt::Debug + Send + Sync + 'static,
    S: AppService,
{
    async move {
        match Box::pin(open(io, &peer, router, ip, header_timeout, &mut shutdown)).await {
            Opened::WebSocket(connection) => {
                // No longer an HTTP connection: shutdown waits for the socket as a socket.
                drop((shutdown, service));
                connection.await;
            }
            Opened::Http { head, io } => {
                Box::pin(serve_http(Prefixed::new(head, io), peer, service, header_timeout, shutdown)).await;
            }
            Opened::Done => {}
        }
    }
}

/// Reads the first request head of `io` and, when [`upgrade::take`] takes it, answers it, all
/// within the handshake timeout.
async fn open<I, A>(
    mut io: Counted<I>,
    peer: &A,
    router: Arc<Router>,
    ip: Option<SocketAddr>,
    header_timeout: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Opened<I>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    A: std::fmt::Debug,
{
    let deadline = tokio::time::Instant::now() + header_timeout;
    let head = tokio::select! {
        // Biased: a head completed in the same poll as shutdown is served.
        biased;
        head = tokio::time::timeout_at(deadline, upgrade::read_head(&mut io)) => head,
        // No request is complete: the connection closes unanswered, the server is going away.
        () = shutdown::triggered(shutdown, PollGate::new()) => return Opened::Done,
    };
    let head = match head {
        Ok(Ok(head)) => head,
        Ok(Err(err)) => {
            tracing::debug!(error = %err, ?peer, "reading the request head failed");
            return Opened::Done;
        }
        Err(_) => {
            tracing::debug!(?peer, "no complete request head within the handshake timeout");
            return Opened::Done;
        }
    };
    let (answer, rest) = match upgrade::take(&router, head, ip) {
        // hyper's header timeout starts again here and applies to every request of the
        // connection, so it stays whole: a head trickled in past `MAX_HEAD` can take up to twice
        // the handshake timeout before hyper drops it.
        Head::Http(head) => return Opened::Http { head, io },
        Head::WebSocket { answer, rest } => (answer, rest),
    };
    // Flushed: a buffered or TLS `Listener` stream must not hold the 101 back.
    let answered = async {
        io.write_all(&upgrade::answer_bytes(&answer)).await?;
        io.flush().await
    };
    match tokio::time::timeout_at(deadline, answered).await {
        Ok(Ok(())) => match answer {
            Ok(upgrade) => return Opened::WebSocket(upgrade.connection(Box::new(io), rest)),
            // Refused: the socket is closed after its answer, lingering (what the client sent
            // meanwhile is read and dropped) so that unread bytes do not reset the connection
            // before the client reads the refusal.
            Err(_) => drop(tokio::time::timeout_at(deadline, linger(&mut io)).await),
        },
        Ok(Err(err)) => tracing::debug!(error = %err, ?peer, "writing the handshake answer failed"),
        Err(_) => tracing::debug!(?peer, "the handshake answer was not taken within the handshake timeout"),
    }
    Opened::Done
}

/// Ends the writing side of `io`, then reads until the client closes its own, at most
/// [`upgrade::MAX_HEAD`] bytes more.
async fn linger<I: AsyncRead + AsyncWrite + Unpin>(io: &mut I) -> io::Result<()> {
    io.shutdown().await?;
    let mut sink = [0; 1024];
    let mut drained = 0;
    while drained < upgrade::MAX_HEAD {
        match io.read(&mut sink).await? {
            0 => break,
            n => drained += n,
        }
    }
    Ok(())
}

/// Serves one connection over hyper, upgrades included, until it ends or, at shutdown, its
/// request in flight is answered.
async fn serve_http<I, A, S>(
    io: I,
    peer: A,
    service: WithinTimeout<S>,
    header_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    A: std::fmt::Debug,
    S: AppService,
{
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        // Biased: a request already read is answered even when shutdown came meanwhile.
        biased;
        result = connection.as_mut() => result,
        () = shutdown::triggered(&mut shutdown, PollGate::new()) => {
            // Finish the request in flight, if any, then close; an idle connection closes now.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(error = %err, ?peer, "HTTP connection error");
    }
}

/// What the accept loop serves HTTP requests with: a hyper service, answering with a body hyper
/// can send, that may move between threads.
pub(crate) trait AppService:
    Service<
        http::Request<Incoming>,
        Response = http::Response<Self::Body>,
        Future: Send + 'static,
        Error: Into<BoxError>,
    > + Send
    + 'static
{
    /// The body of its responses.
    type Body: Body<Data: Send, Error: Into<BoxError>> + Send + 'static;
}

impl<S, B> AppService for S
where
    S: Service<http::Request<Incoming>, Response = http::Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body<Data: Send, Error: Into<BoxError>> + Send + 'static,
{
    type Body = B;
}

/// A service whose every request is answered within `timeout` of its head: a client sending
/// its body a byte at a time (or a handler that hangs) gets 408 and the connection is closed,
/// so the header timeout cannot be sidestepped through the body.
struct WithinTimeout<S> {
    inner: S,
    timeout: Duration,
}

impl<S, B> Service<http::Request<Incoming>> for WithinTimeout<S>
where
    S: Service<http::Request<Incoming>, Response = http::Response<B>>,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
{
    type Response = http::Response<Either<B, Empty<B::Data>>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        let (call, timeout) = (self.inner.call(request), self.timeout);
        Box::pin(async move {
            match tokio::time::timeout(timeout, call).await {
                Ok(result) => result.map(|response| response.map(Either::Left)),
                Err(_) => {
                    tracing::info!(?timeout, "HTTP request not answered in time; 408 and closing");
                    let mut response = http::Response::new(Either::Right(Empty::new()));
                    *response.status_mut() = http::StatusCode::REQUEST_TIMEOUT;
                    response.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
                    Ok(response)
                }
            }
        })
    }
}

/// How many connections each IP address has open, for `max_connections_per_peer`.
struct PeerCounts {
    max: usize,
    open: std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>,
}

impl PeerCounts {
    fn new(max: usize) -> Self {
        PeerCounts { max, open: Default::default() }
    }

    /// A place for one more connection from `ip`, or `None` when it has `max` open.
    fn take(self: Arc<Self>, ip: IpAddr) -> Option<PeerPlace> {
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(ip).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        drop(open);
        Some(PeerPlace { counts: self, ip })
    }
}

/// One connection's place under its address's cap, given back when the connection ends.
struct PeerPlace {
    counts: Arc<PeerCounts>,
    ip: IpAddr,
}

impl Drop for PeerPlace {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let std::collections::hash_map::Entry::Occupied(mut count) = open.entry(self.ip) {
            *count.get_mut() -= 1;
            // Addresses with nothing open are forgotten, so the table is as large as the open set.
            if *count.get() == 0 {
                count.remove();
            }
        }
    }
}

/// An accepted connection holding its place under the connection cap and in the metrics, for
/// as long as it lives: through an HTTP connection and, after an upgrade, the WebSocket.
struct Counted<I> {
    stream: I,
    _permit: Option<OwnedSemaphorePermit>,
    _peer_place: Option<PeerPlace>,
    _open: OpenTcp,
}

impl<I: AsyncRead + Unpin> AsyncRead for Counted<I> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Counted<I> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM, what container runtimes and systemd send
/// to stop a service. Registers for both when called inside a Tokio runtime (else when first
/// polled), so that a signal arriving before the future is first polled is not lost. Once registered, these signals no longer end the process
/// by themselves: the server returns instead, after its graceful shutdown.
///
/// [`serve`](crate::serve) and `chanx::axum::serve` wait for it unless given another signal;
/// combine it with your own in [`with_graceful_shutdown`](crate::Serve::with_graceful_shutdown).
///
/// ```no_run
/// # async fn run(router: chanx::Router) -> std::io::Result<()> {
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// # drop(stop);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
/// chanx::serve(listener, router)
///     .with_graceful_shutdown(async move {
///         tokio::select! {
///             () = chanx::shutdown_signal() => {}
///             _ = stopped => {}
///         }
///     })
///     .await
/// # }
/// ```
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        fn register() -> (Option<Signal>, Option<Signal>) {
            let one = |kind: SignalKind, name: &'static str| match signal(kind) {
                Ok(stream) => Some(stream),
                Err(err) => {
                    tracing::warn!(error = %err, signal = name, "cannot listen for the signal");
                    None
                }
            };
            (one(SignalKind::interrupt(), "SIGINT"), one(SignalKind::terminate(), "SIGTERM"))
        }
        async fn received(stream: Option<&mut Signal>) {
            match stream {
                Some(stream) => {
                    stream.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        // Outside a runtime (`block_on(serve(..).into_future())`), registering would panic:
        // register on the first poll then.
        let registered = tokio::runtime::Handle::try_current().is_ok().then(register);
        async move {
            let (mut interrupt, mut terminate) = registered.unwrap_or_else(register);
            let name = tokio::select! {
                () = received(interrupt.as_mut()) => "SIGINT",
                () = received(terminate.as_mut()) => "SIGTERM",
            };
            tracing::info!(signal = name, "shutdown signal received");
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        tracing::info!("Ctrl-C received");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_can_be_built_outside_a_runtime_and_awaited_in_one() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        // `into_future` runs here, outside the runtime: the signals are registered on first poll.
        let serving = std::future::IntoFuture::into_future(crate::serve(listener, Router::new()));
        runtime.block_on(async {
            let stopped = tokio::time::timeout(std::time::Duration::from_millis(50), serving).await;
            assert!(stopped.is_err(), "serve runs until a signal");
        });
    }
}
