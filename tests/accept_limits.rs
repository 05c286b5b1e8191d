//! The accept side of both servers, `chanx::serve` and `chanx::axum::serve`, over real sockets
//! on 127.0.0.1: the header timeout, the connection cap, graceful shutdown, and the client's
//! address reaching axum handlers. Timeouts run on tokio's paused clock.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use chanx::messages::{Ping, Pong};
use chanx::{Router, Scope, Settings};
use chanx_workspace::Client;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

struct Echo;

#[chanx::consumer]
impl Echo {
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }
}

fn sockets(settings: Settings) -> Router {
    Router::new().route("/ws/echo/", |_: &Scope| Echo).settings(settings)
}

/// The two ways to serve: chanx alone, and an axum app with the consumers merged in.
#[derive(Debug, Clone, Copy)]
enum Server {
    Chanx,
    Axum,
}

/// A slow HTTP endpoint, and one answering with the client's address.
fn app(sockets: &Router) -> axum::Router {
    axum::Router::new()
        .route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                "done"
            }),
        )
        .route("/echo", axum::routing::post(|body: axum::body::Bytes| async move { body.len().to_string() }))
        .route(
            "/whoami",
            axum::routing::get(|axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>| async move {
                peer.to_string()
            }),
        )
        .merge(chanx::axum::routes(sockets.clone()))
}

/// Serves on a free port until `stop` resolves; the address and the server's task.
async fn start(
    server: Server,
    sockets: Router,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> (SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let serve = match server {
        Server::Chanx => chanx::serve(listener, sockets),
        Server::Axum => chanx::axum::serve(listener, app(&sockets), sockets),
    };
    (addr, tokio::spawn(serve.with_graceful_shutdown(stop).into_future()))
}

/// Sends a request head one byte every 2 seconds, as a slowloris client does; how long until
/// the server hangs up.
async fn dribble_until_cut_off(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = b"GET /ws/echo/ HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
    let mut buf = [0; 512];
    for byte in head.iter().chain(std::iter::repeat(&b'a')).take(60) {
        if stream.write_all(&[*byte]).await.is_err() {
            return started.elapsed();
        }
        match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await {
            Err(_) => {} // still open
            Ok(Ok(n)) => {
                // hyper may answer 408 before closing.
                assert!(n == 0 || buf.starts_with(b"HTTP/1.1 408"), "{:?}", String::from_utf8_lossy(&buf[..n]));
                return started.elapsed();
            }
            Ok(Err(_)) => return started.elapsed(),
        }
    }
    panic!("a client sending a header byte every 2 s was still connected after {:?}", started.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_client_sending_one_header_byte_every_two_seconds_is_cut_off_at_the_handshake_timeout() {
    for server in [Server::Chanx, Server::Axum] {
        let (addr, _server) = start(server, sockets(Settings::default()), std::future::pending()).await;
        let held = dribble_until_cut_off(addr).await;
        // The default handshake timeout is 10 s.
        assert!(held >= Duration::from_secs(9) && held <= Duration::from_secs(12), "{server:?}: held for {held:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_client_that_connects_and_sends_nothing_is_cut_off_at_the_handshake_timeout() {
    for server in [Server::Chanx, Server::Axum] {
        let settings = Settings::default().handshake_timeout(Duration::from_secs(3));
        let (addr, _server) = start(server, sockets(settings), std::future::pending()).await;
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut buf = [0; 512];
        let read = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf)).await;
        assert!(read.is_ok(), "{server:?}: a silent connection was kept for a minute");
        let held = started.elapsed();
        assert!(held >= Duration::from_secs(3) && held < Duration::from_secs(4), "{server:?}: held for {held:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_idle_keep_alive_connection_is_closed_at_the_handshake_timeout() {
    for server in [Server::Chanx, Server::Axum] {
        let settings = Settings::default().handshake_timeout(Duration::from_secs(3));
        let (addr, _server) = start(server, sockets(settings), std::future::pending()).await;
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        // A plain request on the WebSocket path: 426, and the connection stays open for the next.
        stream.write_all(b"GET /ws/echo/ HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
        let mut buf = [0; 1024];
        let n = stream.read(&mut buf).await.expect("read");
        assert!(buf[..n].starts_with(b"HTTP/1.1 426"), "{server:?}: {:?}", String::from_utf8_lossy(&buf[..n]));
        let answered = Instant::now();
        let read = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0) | Err(_))), "{server:?}: an idle keep-alive connection was kept: {read:?}");
        let idle = answered.elapsed();
        assert!(idle >= Duration::from_secs(3) && idle < Duration::from_secs(4), "{server:?}: idle for {idle:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_client_sending_its_body_one_byte_every_two_seconds_gets_408_at_the_request_timeout() {
    for (server, path) in [(Server::Chanx, "/ws/echo/"), (Server::Axum, "/echo")] {
        let settings = Settings::default().request_timeout(Duration::from_secs(20));
        let (addr, _server) = start(server, sockets(settings), std::future::pending()).await;
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
        stream.write_all(head.as_bytes()).await.expect("head");
        let mut buf = [0; 512];
        let mut answer = Vec::new();
        // The head came at once, so the header timeout (10 s) does not apply; 90 body bytes over
        // 180 s would hold the connection far past the request timeout.
        for _ in 0..90 {
            if stream.write_all(b"a").await.is_err() {
                break;
            }
            match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await {
                Err(_) => {}
                Ok(Ok(0) | Err(_)) => break,
                Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            }
        }
        let held = started.elapsed();
        let answer = String::from_utf8_lossy(&answer);
        // chanx alone answers the POST at once (it is no upgrade) and then closes rather than
        // read the rest of the body; axum's handler waits for the body until the request timeout.
        match server {
            Server::Chanx => assert!(held < Duration::from_secs(10), "chanx: held for {held:?}: {answer}"),
            Server::Axum => {
                assert!(answer.starts_with("HTTP/1.1 408"), "axum: {answer}");
                assert!(held >= Duration::from_secs(20) && held < Duration::from_secs(23), "axum: held for {held:?}");
            }
        }
    }
}

/// Whether the server hangs up on a fresh TCP connection before it sends anything.
async fn hung_up_at_once(addr: SocketAddr) -> bool {
    let mut stream = TcpStream::connect(addr).await.expect("the kernel accepts the TCP handshake");
    let mut buf = [0; 64];
    match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await {
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(n)) => panic!("unexpected bytes {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(_) => false,
    }
}

#[tokio::test]
async fn a_connection_past_max_connections_is_closed_at_once_and_counted() {
    for server in [Server::Chanx, Server::Axum] {
        let router = sockets(Settings::default().max_connections(Some(2)));
        let metrics = router.metrics().clone();
        let (addr, _server) = start(server, router, std::future::pending()).await;
        // Two WebSockets: upgraded connections keep their place under the cap.
        let mut first = Client::connect(addr, "/ws/echo/").await;
        let second = Client::connect(addr, "/ws/echo/").await;
        assert!(hung_up_at_once(addr).await, "{server:?}: the third connection was kept");
        let snapshot = metrics.snapshot();
        assert_eq!((snapshot.tcp_refused_max_connections, snapshot.tcp_connections_open), (1, 2), "{server:?}");
        assert!(
            snapshot.to_prometheus().contains("chanx_tcp_connections_refused_total{reason=\"max_connections\"} 1\n")
        );

        // The open ones are unaffected, and a place that frees up is taken again.
        first.send_json(&json!({"action": "ping"})).await;
        assert_eq!(first.receive_json().await["action"], "pong");
        second.close().await;
        let freed = tokio::time::timeout(Duration::from_secs(5), async {
            while metrics.snapshot().tcp_connections_open > 1 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        assert!(freed.await.is_ok(), "{server:?}: the closed connection still counts");
        let mut third = Client::connect(addr, "/ws/echo/").await;
        third.send_json(&json!({"action": "ping"})).await;
        assert_eq!(third.receive_json().await["action"], "pong");
    }
}

#[tokio::test]
async fn a_connection_past_max_connections_per_peer_is_closed_at_once_and_counted() {
    for server in [Server::Chanx, Server::Axum] {
        let router = sockets(Settings::default().max_connections_per_peer(Some(2)));
        let metrics = router.metrics().clone();
        let (addr, _server) = start(server, router, std::future::pending()).await;
        let mut first = Client::connect(addr, "/ws/echo/").await;
        let second = Client::connect(addr, "/ws/echo/").await;
        // Every test client is 127.0.0.1: the third one is one too many from that address.
        assert!(hung_up_at_once(addr).await, "{server:?}: the third connection from one address was kept");
        let snapshot = metrics.snapshot();
        assert_eq!((snapshot.tcp_refused_per_peer, snapshot.tcp_refused_max_connections), (1, 0), "{server:?}");
        assert!(
            snapshot
                .to_prometheus()
                .contains("chanx_tcp_connections_refused_total{reason=\"max_connections_per_peer\"} 1\n")
        );
        first.send_json(&json!({"action": "ping"})).await;
        assert_eq!(first.receive_json().await["action"], "pong");
        // A place that frees up is the address's again.
        second.close().await;
        let mut third = loop {
            if metrics.snapshot().tcp_connections_open < 2 {
                break Client::connect(addr, "/ws/echo/").await;
            }
            tokio::task::yield_now().await;
        };
        third.send_json(&json!({"action": "ping"})).await;
        assert_eq!(third.receive_json().await["action"], "pong");
    }
}

#[tokio::test]
async fn axum_shutdown_closes_sockets_with_1001_and_finishes_requests_in_flight() {
    let router = sockets(Settings::default());
    let metrics = router.metrics().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (addr, server) = start(Server::Axum, router, async move {
        let _ = stopped.await;
    })
    .await;
    let mut socket = Client::connect(addr, "/ws/echo/").await;
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).expect("the server is running");

    assert_eq!(socket.close_code().await, Some(1001));
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(5), slow.read_to_string(&mut response))
        .await
        .expect("the response in flight arrives, then the connection closes")
        .expect("read");
    assert!(response.starts_with("HTTP/1.1 200") && response.ends_with("done"), "{response}");
    let served = tokio::time::timeout(Duration::from_secs(5), server).await;
    assert!(matches!(served, Ok(Ok(Ok(())))), "serve returned {served:?}");
    assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed");
    assert_eq!(metrics.snapshot().shutdown_closes, 1);
}

#[tokio::test]
async fn axum_handlers_still_get_the_client_address() {
    let (addr, _server) = start(Server::Axum, sockets(Settings::default()), std::future::pending()).await;
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let local = stream.local_addr().expect("local addr");
    stream.write_all(b"GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    assert!(response.ends_with(&local.to_string()), "{response}");
}
