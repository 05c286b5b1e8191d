//! `chanx::serve` shuts down gracefully on a real SIGTERM, as container runtimes and systemd
//! send it. Alone in its test binary, since the signal goes to the whole process.

#![cfg(unix)]

use std::future::IntoFuture;
use std::time::Duration;

use chanx::messages::{Ping, Pong};
use chanx::{Router, Scope};
use chanx_workspace::Client;

struct Echo;

#[chanx::consumer]
impl Echo {
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }
}

#[tokio::test]
async fn sigterm_closes_every_socket_with_1001_and_serve_returns() {
    let router = Router::new().route("/ws/echo/", |_: &Scope| Echo);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    // No signal given: serve listens for SIGTERM and Ctrl-C (registered here, before spawning).
    let server = tokio::spawn(chanx::serve(listener, router).into_future());
    let mut client = Client::connect(addr, "/ws/echo/").await;

    let killed =
        std::process::Command::new("kill").args(["-TERM", &std::process::id().to_string()]).status().expect("run kill");
    assert!(killed.success());

    assert_eq!(client.close_code().await, Some(1001), "a SIGTERM closes sockets with 1001, not 1006");
    let served = tokio::time::timeout(Duration::from_secs(5), server).await;
    assert!(matches!(served, Ok(Ok(Ok(())))), "serve returned {served:?}");
}
