//! The sandbox's own server (`Sandbox::serve`, what `sandbox serve` runs): a client dribbling its
//! request head is cut off, connections past the cap (or past the cap of one address) are closed
//! at once, over an in-memory listener on tokio's paused clock; and SIGTERM to the real binary
//! closes every socket with 1001 before the process exits.

use std::process::Stdio;
use std::time::Duration;

use chanx::testing::{MemoryConnector, MemoryListener};
use futures_util::StreamExt;
use sandbox::Sandbox;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::support::TestApp;

/// Serves `sandbox` over an in-memory listener in the background, and pauses the clock: from
/// here on time moves only when every task waits (no request below touches the database), so
/// 10 virtual seconds take no time and the timeouts fire at their exact instants.
fn serve(sandbox: &Sandbox) -> MemoryConnector {
    let (listener, connector) = MemoryListener::new();
    let serving = sandbox.serve(listener).with_graceful_shutdown(std::future::pending());
    tokio::spawn(std::future::IntoFuture::into_future(serving));
    tokio::time::pause();
    connector
}

fn connect(connector: &MemoryConnector) -> DuplexStream {
    connector.connect().expect("the server listens")
}

/// A complete keep-alive request; the status line of its answer.
async fn get(stream: &mut DuplexStream, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost:8000\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut buf = vec![0; 64 * 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.expect("answered").expect("read");
    String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_owned()
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

#[tokio::test]
async fn a_client_sending_one_header_byte_every_two_seconds_is_cut_off() {
    let app = TestApp::sqlite().await;
    let connector = serve(&app.sandbox);
    let started = Instant::now();
    let mut stream = connect(&connector);
    let head = b"GET /login HTTP/1.1\r\nHost: localhost:8000\r\nX-Slow: ";
    let mut buf = [0; 512];
    let mut cut_off = None;
    for byte in head.iter().chain(std::iter::repeat(&b'a')).take(60) {
        if stream.write_all(&[*byte]).await.is_err() {
            cut_off = Some(started.elapsed());
            break;
        }
        match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await {
            Err(_) => continue,
            Ok(Ok(n)) => assert!(n == 0 || buf.starts_with(b"HTTP/1.1 408"), "{:?}", &buf[..n]),
            Ok(Err(_)) => {}
        }
        cut_off = Some(started.elapsed());
        break;
    }
    let held = cut_off.expect("a client sending a header byte every 2 s is never cut off");
    // The sandbox keeps chanx's default handshake timeout, 10 s from the first byte. (The clock
    // was paused mid-millisecond, and timers fire on whole milliseconds of the runtime's clock.)
    assert!(held >= Duration::from_secs(10) && held <= Duration::from_millis(10_001), "held for {held:?}");
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_at_once_and_counted() {
    let app = TestApp::sqlite().await;
    let sockets = &app.sandbox.sockets;
    let capped = Sandbox {
        state: app.sandbox.state.clone(),
        sockets: sockets.clone().with_settings(sockets.settings().clone().max_connections(Some(2))),
    };
    let connector = serve(&capped);
    let (mut first, mut second) = (connect(&connector), connect(&connector));
    assert_eq!(get(&mut first, "/login").await, "HTTP/1.1 200 OK");
    assert_eq!(get(&mut second, "/login").await, "HTTP/1.1 200 OK");

    assert!(hung_up_at_once(connect(&connector)).await, "the third connection was served");
    let metrics = capped.sockets.metrics().snapshot();
    assert_eq!((metrics.tcp_refused_max_connections, metrics.tcp_connections_open), (1, 2));

    // The two keep their connections; once one leaves, a newcomer gets in.
    assert_eq!(get(&mut first, "/login").await, "HTTP/1.1 200 OK");
    drop(second);
    // On the paused clock each check runs once every task waits: no real time passes.
    let freed = tokio::time::timeout(Duration::from_secs(5), async {
        while capped.sockets.metrics().snapshot().tcp_connections_open > 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    assert!(freed.await.is_ok(), "the closed connection still counts");
    let mut fourth = connect(&connector);
    assert_eq!(get(&mut fourth, "/login").await, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn one_address_holds_at_most_64_connections_by_default() {
    let app = TestApp::sqlite().await;
    let connector = serve(&app.sandbox);
    let mut held = Vec::new();
    for _ in 0..64 {
        let mut stream = connect(&connector);
        assert_eq!(get(&mut stream, "/login").await, "HTTP/1.1 200 OK");
        held.push(stream);
    }
    // Every `connect` is from 127.0.0.1: the 65th is closed at once, however few others are open.
    assert!(hung_up_at_once(connect(&connector)).await, "the 65th connection was served");
    assert_eq!(app.sandbox.sockets.metrics().snapshot().tcp_refused_per_peer, 1);
    // Another address is not affected.
    let mut elsewhere = connector.connect_from("192.0.2.7:5000".parse().expect("addr")).expect("connect");
    assert_eq!(get(&mut elsewhere, "/login").await, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn sigterm_closes_every_socket_with_1001_then_the_process_exits() {
    let dir = std::env::temp_dir().join(format!("chanx-sandbox-sigterm-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .current_dir(&dir)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("SANDBOX_ENV")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // A failing test leaves no server behind.
        .kill_on_drop(true)
        .spawn()
        .expect("the sandbox starts");
    let stdout = child.stdout.take().expect("stdout");
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    // Reads the log, keeping the pipe drained until the process ends.
    tokio::spawn(async move {
        let mut addr_tx = Some(addr_tx);
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("serving on http://").nth(1) {
                let addr = rest.split('/').next().unwrap_or_default().to_owned();
                if let Some(tx) = addr_tx.take() {
                    let _ = tx.send(addr);
                }
            }
        }
    });
    let addr = tokio::time::timeout(Duration::from_secs(60), addr_rx).await.expect("the server starts").expect("addr");

    // An anonymous assistant conversation: a socket that needs no account.
    let mut stream = TcpStream::connect(&addr).await.expect("connect");
    let request = format!(
        "POST /api/assistants/anonymous/ HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let created: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"));
    let id = created["id"].as_str().expect("the conversation's id");
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/ws/assistants/{id}/")).await.expect("socket opens");
    let auth = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("a frame").expect("open");
    assert!(auth.expect("frame").to_text().expect("text").contains("authentication"));

    let pid = child.id().expect("the sandbox runs");
    let killed = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("run kill");
    assert!(killed.success());
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("the server closes in time") {
            Some(Ok(WsMessage::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break None,
        }
    };
    assert_eq!(close, Some(1001), "SIGTERM closes the socket with 1001, not a dropped connection (1006)");
    drop(socket);
    let exited = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the process exits after its graceful shutdown")
        .expect("wait");
    assert!(exited.success(), "{exited:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
