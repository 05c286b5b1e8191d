//! Mounting chanx consumers in an axum application (feature `axum`).
//!
//! ```no_run
//! # async fn run(chanx_router: chanx::Router) -> std::io::Result<()> {
//! let app = axum::Router::new()
//!     .route("/health", axum::routing::get(|| async { "ok" }))
//!     .merge(chanx::axum::routes(chanx_router));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};

use crate::Router;

/// An axum router serving every path of `router` with its consumer. Merge it into your app.
///
/// The client address reaches [`Scope::peer_addr`](crate::Scope::peer_addr) when the app is
/// served with `into_make_service_with_connect_info::<SocketAddr>()`.
pub fn routes<S: Clone + Send + Sync + 'static>(router: Router) -> axum::Router<S> {
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
