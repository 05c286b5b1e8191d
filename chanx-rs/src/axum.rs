//! Mounting chanx consumers in an axum application, and serving it (feature `axum`).
//!
//! ```no_run
//! # async fn run(chanx_router: chanx::Router) -> std::io::Result<()> {
//! let app = axum::Router::new()
//!     .route("/health", axum::routing::get(|| async { "ok" }))
//!     .merge(chanx::axum::routes(chanx_router.clone()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! chanx::axum::serve(listener, app, chanx_router).await
//! # }
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;

use crate::{Listener, Router, Serve};

/// Serves an axum `app` on `listener` (any [`Listener`]: TCP, a Unix socket, or
/// [`MemoryListener`](crate::testing::MemoryListener) in tests) with the protections of
/// [`chanx::serve`](crate::serve),
/// from the settings of `sockets`, the chanx router whose consumers `app` mounts (with
/// [`routes`]):
///
/// - a client must send each request head within
///   [`Settings::handshake_timeout`](crate::Settings::handshake_timeout) (10 s), else its TCP
///   connection is closed (`axum::serve` runs hyper without a timer, so no such timeout applies
///   there, and a client sending a byte every few seconds holds a connection forever);
/// - at most [`Settings::max_connections`](crate::Settings::max_connections) TCP connections are
///   open (16,384); one accepted past the cap is closed at once;
/// - every accepted TCP socket gets `TCP_NODELAY`, so frames are not held back by Nagle's
///   algorithm and delayed ACKs;
/// - on Ctrl-C or SIGTERM ([`shutdown_signal`](crate::shutdown_signal)), or the signal given to
///   [`with_graceful_shutdown`](Serve::with_graceful_shutdown): stop accepting, close the chanx
///   sockets of `sockets` with 1001 ([`Router::shutdown`]), let HTTP requests in flight finish,
///   within [`Settings::shutdown_timeout`](crate::Settings::shutdown_timeout), and return.
///
/// Handlers can extract `ConnectInfo<SocketAddr>`, as with
/// `into_make_service_with_connect_info`, when the peer has an IP address
/// ([`Listener::socket_addr`]), and `ConnectInfo<L::Addr>` always (for a Unix socket,
/// `ConnectInfo<tokio::net::unix::SocketAddr>`). It serves HTTP/1.1 (WebSocket upgrades
/// included).
///
/// `sockets` is needed because an axum router does not let its server reach the chanx routers
/// merged into it; an app without consumers passes `chanx::Router::new()` with its settings.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use chanx::Settings;
/// let sockets = chanx::Router::new().with_settings(Settings::default().max_connections(Some(4_000)));
/// let app = axum::Router::new()
///     .route("/who", axum::routing::get(|info: axum::extract::ConnectInfo<std::net::SocketAddr>| async move {
///         info.0.to_string()
///     }))
///     .merge(chanx::axum::routes(sockets.clone()));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
/// chanx::axum::serve(listener, app, sockets).await
/// # }
/// ```
pub fn serve<L: Listener>(listener: L, app: axum::Router, sockets: Router) -> Serve<L> {
    Serve::axum(listener, app, sockets)
}

/// The hyper service of one connection from `peer`: the app, with the peer's address (and its
/// IP address, when it has one).
pub(crate) fn service<A: Clone + Send + Sync + 'static>(
    app: axum::Router,
    peer: A,
    ip: Option<SocketAddr>,
) -> impl hyper::service::Service<
    http::Request<Incoming>,
    Response = http::Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<http::Response<Body>, Infallible>> + Send + 'static,
> + Send
+ 'static {
    hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer.clone()));
        // For a TCP (or memory) listener that was `ConnectInfo<SocketAddr>` already.
        if let Some(ip) = ip
            && std::any::TypeId::of::<A>() != std::any::TypeId::of::<SocketAddr>()
        {
            request.extensions_mut().insert(ConnectInfo(ip));
        }
        let mut app = app.clone();
        tower_service::Service::call(&mut app, request)
    })
}

/// An axum router serving every path of `router` with its consumer. Merge it into your app.
///
/// The client address reaches [`Scope::peer_addr`](crate::Scope::peer_addr) when the app is
/// served with `into_make_service_with_connect_info::<SocketAddr>()`.
///
/// # Panics
///
/// When [`Router::check`] fails (a consumer names a channel layer the router lacks), as axum
/// panics on an invalid route: a route table is fixed at start-up.
pub fn routes<S: Clone + Send + Sync + 'static>(router: Router) -> axum::Router<S> {
    if let Err(err) = router.check() {
        panic!("{err}");
    }
    let mut paths: Vec<String> = router.paths().into_iter().map(str::to_owned).collect();
    paths.extend(router.docs_paths());
    let router = Arc::new(router);
    let mut app = axum::Router::new();
    for path in paths {
        let router = router.clone();
        let handler = move |request: Request| {
            let router = router.clone();
            async move {
                let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
                let response = crate::server::handle(&router, request, peer);
                response.map(Body::new)
            }
        };
        app = app.route(&path, axum::routing::any(handler));
    }
    app
}
