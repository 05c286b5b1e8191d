//! Serving a [`Router`] over TCP with hyper 1 and tokio-tungstenite.

mod handshake;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

pub(crate) use handshake::handle;

use crate::Router;

/// Serves `router` on `listener` until the process ends.
///
/// Every path of the router accepts WebSocket upgrades; other paths answer 404, and plain HTTP
/// requests on a WebSocket path answer 426.
///
/// ```no_run
/// # async fn run(router: chanx::Router) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
/// chanx::serve(listener, router).await
/// # }
/// ```
pub async fn serve(listener: TcpListener, router: Router) -> io::Result<()> {
    let router = Arc::new(router);
    loop {
        let (stream, peer) = match listener.accept().await {
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
    let service = service_fn(move |request| {
        let router = router.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(&router, request, Some(peer))) }
    });
    if let Err(err) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).with_upgrades().await {
        tracing::debug!(error = %err, "HTTP connection error");
    }
}
