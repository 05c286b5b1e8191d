//! Serving a [`Router`] with hyper 1 and tokio-tungstenite, over any [`Listener`].

mod accept;
mod handshake;
mod listener;
pub(crate) mod upgrade;

use std::future::{Future, IntoFuture};
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use hyper::service::service_fn;
use tokio::net::TcpListener;

pub use accept::shutdown_signal;
pub(crate) use accept::{Signal, run};
pub(crate) use handshake::handle;
#[cfg(feature = "fuzzing")]
pub(crate) use handshake::subprotocol;
pub use listener::Listener;

use crate::Router;

/// Serves `router` on `listener` until Ctrl-C or SIGTERM ([`shutdown_signal`]), or the signal
/// given to [`with_graceful_shutdown`](Serve::with_graceful_shutdown), then shuts down
/// gracefully.
///
/// Every path of the router accepts WebSocket upgrades; other paths answer 404, plain HTTP
/// requests on a WebSocket path answer 426, and a handshake from a foreign `Origin` answers 403
/// (see [`Settings::allowed_origins`](crate::Settings::allowed_origins)). A client must send its
/// request head within [`Settings::handshake_timeout`](crate::Settings::handshake_timeout), and
/// at most [`Settings::max_connections`](crate::Settings::max_connections) are open at once.
///
/// It fails at once, before accepting anything, with an [`io::ErrorKind::InvalidInput`] error
/// holding the [`RouterError`](crate::RouterError) when [`Router::check`] does: a consumer names a
/// channel layer the router lacks.
///
/// `listener` is any [`Listener`]: a [`TcpListener`] (each accepted socket gets `TCP_NODELAY`),
/// a Unix socket, or, in tests, a [`MemoryListener`](crate::testing::MemoryListener).
///
/// ```no_run
/// # async fn run(router: chanx::Router) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
/// chanx::serve(listener, router).await
/// # }
/// ```
///
/// The same server in memory, as a test drives it (on tokio's paused clock, if it likes):
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// let (listener, connector) = chanx::testing::MemoryListener::new();
/// tokio::spawn(
///     std::future::IntoFuture::into_future(
///         chanx::serve(listener, chanx::Router::new()).with_graceful_shutdown(std::future::pending()),
///     ),
/// );
/// let mut stream = connector.connect().expect("the server listens");
/// stream.write_all(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
/// let mut answer = [0; 12];
/// stream.read_exact(&mut answer).await.unwrap();
/// assert_eq!(&answer, b"HTTP/1.1 404");
/// # }
/// ```
pub fn serve<L: Listener>(listener: L, router: Router) -> Serve<L> {
    Serve {
        listener,
        router,
        signal: None,
        #[cfg(feature = "axum")]
        app: None,
    }
}

/// The future of [`serve`] (and `chanx::axum::serve`) on a listener `L`; await it, optionally
/// after choosing a shutdown signal.
#[must_use = "a server does nothing until awaited"]
pub struct Serve<L = TcpListener> {
    listener: L,
    router: Router,
    signal: Option<Signal>,
    /// What serves HTTP beside the router's sockets, with `chanx::axum::serve`.
    #[cfg(feature = "axum")]
    app: Option<axum::Router>,
}

impl<L: std::fmt::Debug> std::fmt::Debug for Serve<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve").field("listener", &self.listener).field("router", &self.router).finish()
    }
}

impl<L> Serve<L> {
    #[cfg(feature = "axum")]
    pub(crate) fn axum(listener: L, app: axum::Router, router: Router) -> Serve<L> {
        Serve { listener, router, signal: None, app: Some(app) }
    }

    /// Shuts down gracefully when `signal` resolves, instead of on Ctrl-C or SIGTERM: stop
    /// accepting, close every WebSocket with 1001 once its running handlers finish, let HTTP
    /// requests in flight finish, and return when all are done or after
    /// [`Settings::shutdown_timeout`](crate::Settings::shutdown_timeout) (see [`Router::shutdown`]).
    ///
    /// ```no_run
    /// # async fn run(router: chanx::Router) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// # drop(stop);
    /// chanx::serve(listener, router)
    ///     .with_graceful_shutdown(async move { let _ = stopped.await; })
    ///     .await
    /// # }
    /// ```
    pub fn with_graceful_shutdown<F>(mut self, signal: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.signal = Some(Box::pin(signal));
        self
    }
}

impl<L: Listener> IntoFuture for Serve<L> {
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        // Registered now, not when first polled, so that an early signal is not lost.
        let signal = self.signal.unwrap_or_else(|| Box::pin(shutdown_signal()));
        // A route whose consumer names a missing layer fails here, before anything is accepted.
        let checked = self.router.check().map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err));
        let router = Arc::new(self.router);
        let listener = self.listener;
        if let Err(err) = checked {
            return Box::pin(std::future::ready(Err(err)));
        }
        #[cfg(feature = "axum")]
        if let Some(app) = self.app {
            return Box::pin(async move {
                // The app's middleware sees every request: no handshake skips hyper.
                run(listener, router, signal, false, move |peer: &L::Addr| {
                    crate::axum::service(app.clone(), peer.clone(), L::socket_addr(peer))
                })
                .await;
                Ok(())
            });
        }
        Box::pin(async move {
            let sockets = router.clone();
            run(listener, router, signal, true, move |peer: &L::Addr| {
                let (router, peer) = (sockets.clone(), L::socket_addr(peer));
                service_fn(move |request| {
                    let router = router.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(&router, request, peer)) }
                })
            })
            .await;
            Ok(())
        })
    }
}
