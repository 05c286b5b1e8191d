//! The accept side of both servers, `chanx::serve` and `chanx::axum::serve`: the header and
//! request timeouts, the connection caps, graceful shutdown, and the client's address reaching
//! axum handlers.
//!
//! Everything timed runs over a `chanx::testing::MemoryListener` on tokio's paused clock: no real
//! IO is outstanding, so the clock jumps straight to the next timer when every task waits, and
//! each test asserts the exact virtual instant a limit fires. The last tests serve real TCP and
//! Unix sockets, and assert nothing about time.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use chanx::messages::{Ping, Pong};
use chanx::testing::{MemoryConnector, MemoryListener};
use chanx::{Router, Scope, Settings};
use chanx_workspace::{Client, all_idle, settled};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
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
    Router::new().route("/ws/echo/", |_: &Scope| Echo).with_settings(settings)
}

/// The two ways to serve: chanx alone, and an axum app with the consumers merged in.
#[derive(Debug, Clone, Copy)]
enum Server {
    Chanx,
    Axum,
}

/// How long `/slow` takes to answer.
const SLOW: Duration = Duration::from_millis(500);

/// A slow HTTP endpoint, and one answering with the client's address.
fn app(sockets: &Router) -> axum::Router {
    axum::Router::new()
        .route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(SLOW).await;
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

/// Serves in memory until `stop` resolves; the connector and the server's task.
fn start(
    server: Server,
    sockets: Router,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> (MemoryConnector, tokio::task::JoinHandle<std::io::Result<()>>) {
    let (listener, connector) = MemoryListener::new();
    let serve = match server {
        Server::Chanx => chanx::serve(listener, sockets),
        Server::Axum => chanx::axum::serve(listener, app(&sockets), sockets),
    };
    (connector, tokio::spawn(serve.with_graceful_shutdown(stop).into_future()))
}

fn connect(connector: &MemoryConnector) -> DuplexStream {
    connector.connect().expect("the server listens")
}

/// Sends a request head one byte every 2 seconds, as a slowloris client does; how long until
/// the server hangs up.
async fn dribble_until_cut_off(mut stream: DuplexStream) -> Duration {
    let started = Instant::now();
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

/// Reads until the server closes; what it sent, and when it closed.
async fn read_until_closed(stream: &mut DuplexStream) -> (String, Instant) {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(600), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection was kept for 10 minutes: {:?}", String::from_utf8_lossy(&answer));
    (String::from_utf8_lossy(&answer).into_owned(), Instant::now())
}

#[tokio::test(start_paused = true)]
async fn a_client_sending_one_header_byte_every_two_seconds_is_cut_off_at_the_handshake_timeout() {
    for server in [Server::Chanx, Server::Axum] {
        let (connector, _server) = start(server, sockets(Settings::default()), std::future::pending());
        let held = dribble_until_cut_off(connect(&connector)).await;
        // The default handshake timeout is 10 s, from the first byte (sent when connecting).
        assert_eq!(held, Duration::from_secs(10), "{server:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_client_that_connects_and_sends_nothing_is_cut_off_at_the_handshake_timeout() {
    for server in [Server::Chanx, Server::Axum] {
        let settings = Settings::default().handshake_timeout(Duration::from_secs(3));
        let (connector, _server) = start(server, sockets(settings), std::future::pending());
        let started = Instant::now();
        let (_, closed) = read_until_closed(&mut connect(&connector)).await;
        assert_eq!(closed - started, Duration::from_secs(3), "{server:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_idle_keep_alive_connection_is_closed_at_the_handshake_timeout() {
    for server in [Server::Chanx, Server::Axum] {
        let settings = Settings::default().handshake_timeout(Duration::from_secs(3));
        let (connector, _server) = start(server, sockets(settings), std::future::pending());
        let mut stream = connect(&connector);
        // A plain request on the WebSocket path: 426, and the connection stays open for the next.
        stream.write_all(b"GET /ws/echo/ HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
        let mut buf = [0; 1024];
        let n = stream.read(&mut buf).await.expect("read");
        assert!(buf[..n].starts_with(b"HTTP/1.1 426"), "{server:?}: {:?}", String::from_utf8_lossy(&buf[..n]));
        let answered = Instant::now();
        let (rest, closed) = read_until_closed(&mut stream).await;
        assert_eq!(rest, "", "{server:?}");
        assert_eq!(closed - answered, Duration::from_secs(3), "{server:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_client_sending_its_body_one_byte_every_two_seconds_gets_408_at_the_request_timeout() {
    for (server, path) in [(Server::Chanx, "/ws/echo/"), (Server::Axum, "/echo")] {
        let settings = Settings::default().request_timeout(Duration::from_secs(20));
        let (connector, _server) = start(server, sockets(settings), std::future::pending());
        let started = Instant::now();
        let mut stream = connect(&connector);
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
        match server {
            // chanx alone answers the POST at once (it is no upgrade) and then closes rather
            // than read the rest of the body.
            Server::Chanx => {
                assert!(answer.starts_with("HTTP/1.1 426"), "chanx: {answer}");
                assert_eq!(held, Duration::ZERO, "chanx: {answer}");
            }
            // axum's handler waits for the body until the request timeout.
            Server::Axum => {
                assert!(answer.starts_with("HTTP/1.1 408"), "axum: {answer}");
                assert_eq!(held, Duration::from_secs(20), "axum: {answer}");
            }
        }
    }
}

/// Whether the server hangs up on a fresh connection before it sends anything.
async fn hung_up_at_once(mut stream: DuplexStream) -> bool {
    let mut buf = [0; 64];
    match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await {
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(n)) => panic!("unexpected bytes {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(_) => false,
    }
}

#[tokio::test(start_paused = true)]
async fn a_connection_past_max_connections_is_closed_at_once_and_counted() {
    for server in [Server::Chanx, Server::Axum] {
        let router = sockets(Settings::default().max_connections(Some(2)));
        let metrics = router.metrics().clone();
        let (connector, _server) = start(server, router, std::future::pending());
        // Two WebSockets: upgraded connections keep their place under the cap.
        let mut first = Client::connect_memory(&connector, "/ws/echo/").await;
        let second = Client::connect_memory(&connector, "/ws/echo/").await;
        assert!(hung_up_at_once(connect(&connector)).await, "{server:?}: the third connection was kept");
        let snapshot = metrics.snapshot();
        assert_eq!((snapshot.tcp_refused_max_connections, snapshot.tcp_connections_open), (1, 2), "{server:?}");
        assert!(
            snapshot.to_prometheus().contains("chanx_tcp_connections_refused_total{reason=\"max_connections\"} 1\n")
        );

        // The open ones are unaffected, and a place that frees up is taken again.
        first.send_json(&json!({"action": "ping"})).await;
        assert_eq!(first.receive_json().await["action"], "pong");
        second.close().await;
        settled("the closed connection to stop counting", || metrics.snapshot().tcp_connections_open == 1).await;
        let mut third = Client::connect_memory(&connector, "/ws/echo/").await;
        third.send_json(&json!({"action": "ping"})).await;
        assert_eq!(third.receive_json().await["action"], "pong");
    }
}

#[tokio::test(start_paused = true)]
async fn a_connection_past_max_connections_per_peer_is_closed_at_once_and_counted() {
    for server in [Server::Chanx, Server::Axum] {
        let router = sockets(Settings::default().max_connections_per_peer(Some(2)));
        let metrics = router.metrics().clone();
        let (connector, _server) = start(server, router, std::future::pending());
        let mut first = Client::connect_memory(&connector, "/ws/echo/").await;
        let second = Client::connect_memory(&connector, "/ws/echo/").await;
        // Every `connect` is from 127.0.0.1: the third one is one too many from that address...
        assert!(
            hung_up_at_once(connect(&connector)).await,
            "{server:?}: the third connection from one address was kept"
        );
        // ...while another address still gets in.
        let elsewhere = connector.connect_from("192.0.2.7:5000".parse().expect("addr")).expect("connect");
        assert!(!hung_up_at_once(elsewhere).await, "{server:?}: another address was refused");
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
        settled("the closed connection to stop counting", || metrics.snapshot().tcp_connections_open < 2).await;
        let mut third = Client::connect_memory(&connector, "/ws/echo/").await;
        third.send_json(&json!({"action": "ping"})).await;
        assert_eq!(third.receive_json().await["action"], "pong");
    }
}

#[tokio::test(start_paused = true)]
async fn axum_shutdown_closes_sockets_with_1001_and_finishes_requests_in_flight() {
    let router = sockets(Settings::default());
    let metrics = router.metrics().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (connector, server) = start(Server::Axum, router, async move {
        let _ = stopped.await;
    });
    let mut socket = Client::connect_memory(&connector, "/ws/echo/").await;
    let mut slow = connect(&connector);
    slow.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let asked = Instant::now();
    // Once every task waits, the request is in its handler's sleep.
    all_idle().await;
    stop.send(()).expect("the server is running");

    assert_eq!(socket.close_code().await, Some(1001));
    let (response, answered) = read_until_closed(&mut slow).await;
    assert!(response.starts_with("HTTP/1.1 200") && response.ends_with("done"), "{response}");
    assert_eq!(answered - asked, SLOW, "the request in flight ran to its end");
    let served = tokio::time::timeout(Duration::from_secs(5), server).await;
    assert!(matches!(served, Ok(Ok(Ok(())))), "serve returned {served:?}");
    assert!(connector.connect().is_err(), "the listener is closed");
    assert_eq!(metrics.snapshot().shutdown_closes, 1);
}

#[tokio::test(start_paused = true)]
async fn axum_handlers_get_the_client_address() {
    let (connector, _server) = start(Server::Axum, sockets(Settings::default()), std::future::pending());
    let peer: SocketAddr = "192.0.2.7:5000".parse().expect("addr");
    let mut stream = connector.connect_from(peer).expect("connect");
    stream.write_all(b"GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.expect("write");
    let (response, _) = read_until_closed(&mut stream).await;
    assert!(response.ends_with("192.0.2.7:5000"), "{response}");
}

// Real sockets: the listener seam is no test-only path.

#[tokio::test]
async fn axum_handlers_get_the_client_address_over_tcp() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = sockets(Settings::default());
    let serve = chanx::axum::serve(listener, app(&router), router).with_graceful_shutdown(std::future::pending());
    tokio::spawn(serve.into_future());
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let local = stream.local_addr().expect("local addr");
    stream.write_all(b"GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    assert!(response.ends_with(&local.to_string()), "{response}");
}

/// A plain request head over a Unix socket; the whole answer.
#[cfg(unix)]
async fn unix_get(path: &std::path::Path, target: &str) -> String {
    let mut stream = tokio::net::UnixStream::connect(path).await.expect("connect");
    let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
}

#[cfg(unix)]
#[tokio::test]
async fn both_servers_serve_a_unix_socket_without_a_per_peer_cap() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as WsMessage;

    for server in [Server::Chanx, Server::Axum] {
        let dir = std::env::temp_dir().join(format!("chanx-unix-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("chanx.sock");
        let listener = tokio::net::UnixListener::bind(&path).expect("bind");
        // A cap of one per address would refuse the second socket, were Unix peers counted.
        let router = sockets(Settings::default().max_connections_per_peer(Some(1)));
        let metrics = router.metrics().clone();
        let serve = match server {
            Server::Chanx => chanx::serve(listener, router),
            Server::Axum => chanx::axum::serve(listener, app(&router), router),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(
            serve
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        let mut clients = Vec::new();
        for _ in 0..2 {
            let stream = tokio::net::UnixStream::connect(&path).await.expect("connect");
            let (ws, _) = tokio_tungstenite::client_async("ws://localhost/ws/echo/", stream).await.expect("upgrade");
            clients.push(ws);
        }
        for ws in &mut clients {
            ws.send(WsMessage::text(r#"{"action":"ping"}"#)).await.expect("send");
            let pong = ws.next().await.expect("a frame").expect("valid");
            assert_eq!(pong.to_text().expect("text"), r#"{"action":"pong","payload":null}"#, "{server:?}");
        }
        assert_eq!(metrics.snapshot().tcp_refused_per_peer, 0, "{server:?}");
        if let Server::Axum = server {
            // No IP address, so no `ConnectInfo<SocketAddr>` for the handler that asks for one.
            assert!(unix_get(&path, "/whoami").await.starts_with("HTTP/1.1 500"), "{server:?}");
        } else {
            assert!(unix_get(&path, "/nowhere").await.starts_with("HTTP/1.1 404"), "{server:?}");
        }
        stop.send(()).expect("the server is running");
        for ws in &mut clients {
            let close = ws.next().await.expect("a close").expect("valid");
            assert!(matches!(close, WsMessage::Close(Some(ref frame)) if u16::from(frame.code) == 1001), "{close:?}");
            // Reading on sends the closing handshake's reply, so the server need not wait for it.
            while let Some(Ok(_)) = ws.next().await {}
        }
        assert!(matches!(serving.await, Ok(Ok(()))), "{server:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
