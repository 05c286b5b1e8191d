//! Serving a [`Router`] over TCP with hyper 1 and tokio-tungstenite.

mod handshake;

use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

pub(crate) use handshake::handle;
#[cfg(feature = "fuzzing")]
pub(crate) use handshake::subprotocol;

use crate::Router;

/// Serves `router` on `listener`: until the process ends, or, with
/// [`with_graceful_shutdown`](Serve::with_graceful_shutdown), until a signal.
///
/// Every path of the router accepts WebSocket upgrades; other paths answer 404, plain HTTP
/// requests on a WebSocket path answer 426, and a handshake from a foreign `Origin` answers 403
/// (see [`Settings::allowed_origins`](crate::Settings::allowed_origins)).
///
/// ```no_run
/// # async fn run(router: chanx::Router) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
/// chanx::serve(listener, router).await
/// # }
/// ```
pub fn serve(listener: TcpListener, router: Router) -> Serve {
    Serve { listener, router, signal: None }
}

/// The future of [`serve`]; await it, optionally after choosing a shutdown signal.
#[must_use = "a server does nothing until awaited"]
pub struct Serve {
    listener: TcpListener,
    router: Router,
    signal: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl std::fmt::Debug for Serve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve").field("listener", &self.listener).field("router", &self.router).finish()
    }
}

impl Serve {
    /// Shuts down gracefully when `signal` resolves: stop accepting, close every connection with
    /// 1001 once its running handlers finish, and return when all are closed (see
    /// [`Router::shutdown`]).
    ///
    /// ```no_run
    /// # async fn run(router: chanx::Router) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
    /// chanx::serve(listener, router)
    ///     .with_graceful_shutdown(async { tokio::signal::ctrl_c().await.unwrap_or(()) })
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

impl IntoFuture for Serve {
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        let Serve { listener, router, signal } = self;
        let signal = signal.unwrap_or_else(|| Box::pin(std::future::pending()));
        Box::pin(async move {
            let router = Arc::new(router);
            accept_until(&listener, &router, signal).await;
            drop(listener);
            router.shutdown().await;
            Ok(())
        })
    }
}

async fn accept_until(listener: &TcpListener, router: &Arc<Router>, signal: Pin<Box<dyn Future<Output = ()> + Send>>) {
    tokio::pin!(signal);
    loop {
        let accepted = tokio::select! {
            () = &mut signal => return,
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
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(stream, peer, router.clone()));
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, peer: SocketAddr, router: Arc<Router>) {
    let header_timeout = router.get_settings().get_handshake_timeout();
    let service = service_fn(move |request| {
        let router = router.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(&router, request, Some(peer))) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    if let Err(err) = connection.await {
        tracing::debug!(error = %err, ?peer, "HTTP connection error");
    }
}
