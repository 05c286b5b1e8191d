//! The server over real sockets on 127.0.0.1: handshake, routing, path parameters, error frames,
//! events from outside a connection, mounting in axum, and every connection limit: origin check,
//! size limit, slow clients, idle timeout and graceful shutdown. The timed ones (slow clients,
//! heartbeat and idle timeout, graceful shutdown, the handshake deadline) are served over a
//! `MemoryListener` on tokio's paused clock instead, and assert virtual instants.

use std::time::Duration;

use chanx::messages::{Ping, Pong};
use chanx::{Context, Message, Router, Scope, Settings};
use chanx_workspace::{Client, all_idle, settled, spawn_memory_server, spawn_server};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "where")]
struct Where {}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "here")]
struct Here {
    payload: String,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "alert")]
struct Alert {
    payload: String,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "nap")]
struct Nap {
    payload: u64,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "napped")]
struct Napped {
    payload: u64,
}

struct RoomConsumer;

#[chanx::consumer(groups = ["alerts"], passthrough = [Alert])]
impl RoomConsumer {
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }

    #[ws_handler]
    async fn nap(&self, msg: Nap) -> Napped {
        tokio::time::sleep(Duration::from_millis(msg.payload)).await;
        Napped { payload: msg.payload }
    }

    #[ws_handler(action = "where")]
    async fn whereabouts(&self, ctx: &Context, _msg: Where) -> Here {
        Here { payload: format!("{} in {}", ctx.scope().path(), ctx.param("room").unwrap_or("?")) }
    }
}

fn router() -> Router {
    Router::new().nest("/ws", Router::new().route("/room/{room}/", |_: &Scope| RoomConsumer))
}

async fn http_status(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut buf = vec![0; 1024];
    let n = stream.read(&mut buf).await.expect("read");
    String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_real_client_pings_and_reads_path_parameters() {
    let addr = spawn_server(router()).await;
    let mut client = Client::connect(addr, "/ws/room/42/").await;
    client.send_json(&json!({"action": "ping"})).await;
    assert_eq!(client.receive_json().await, json!({"action": "pong", "payload": null}));
    client.send_json(&json!({"action": "where", "ref": "r1"})).await;
    assert_eq!(
        client.receive_json().await,
        json!({"action": "here", "payload": "/ws/room/42/ in 42", "version": 1, "ref": "r1"})
    );
    client.close().await;
}

#[tokio::test]
async fn garbage_gets_error_frames_and_the_socket_stays_open() {
    let addr = spawn_server(router()).await;
    let mut client = Client::connect(addr, "/ws/room/1/").await;
    client.send(WsMessage::text("{not json")).await;
    assert_eq!(client.receive_json().await["payload"][0]["type"], "json_invalid");
    client.send(WsMessage::binary(vec![0xff, 0x00])).await;
    assert_eq!(client.receive_json().await["payload"][0]["msg"], "Invalid JSON: binary frames are not supported");
    client.send_json(&json!({"action": "nope"})).await;
    assert_eq!(client.receive_json().await["payload"][0]["type"], "union_tag_invalid");
    client.send_json(&json!({"action": "ping"})).await;
    assert_eq!(client.receive_json().await, json!({"action": "pong", "payload": null}));
    client.close().await;
}

#[tokio::test]
async fn unknown_paths_get_404_and_plain_http_gets_426() {
    let addr = spawn_server(router()).await;
    let status = http_status(addr, "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let status = http_status(addr, "GET /ws/room/1/ HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status, "HTTP/1.1 426 Upgrade Required");
    // The 426 says what to upgrade to, and which WebSocket version is spoken.
    let (head, _) = http_get(addr, "/ws/room/1/").await;
    assert!(head.contains("upgrade: websocket") && head.contains("sec-websocket-version: 13"), "{head}");
}

/// `payload` as one masked text frame, as a client sends it.
fn client_text_frame(payload: &str) -> Vec<u8> {
    let mask = [7, 1, 9, 3];
    let mut frame = vec![0x81, 0x80 | u8::try_from(payload.len()).expect("short")];
    frame.extend_from_slice(&mask);
    frame.extend(payload.bytes().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    frame
}

const HANDSHAKE_HEADERS: &str = "Host: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
    Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

#[tokio::test]
async fn a_client_that_sends_frames_with_its_handshake_gets_them_answered() {
    let addr = spawn_server(router()).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // The head and a first frame in one write, not waiting for the 101.
    let mut request = format!("GET /ws/room/9/ HTTP/1.1\r\n{HANDSHAKE_HEADERS}\r\n").into_bytes();
    request.extend(client_text_frame(r#"{"action":"where"}"#));
    stream.write_all(&request).await.expect("write");
    let frame = first_text_frame(&mut stream).await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&frame).expect("JSON"),
        json!({"action": "here", "payload": "/ws/room/9/ in 9"})
    );
}

#[tokio::test]
async fn chanx_serve_and_axum_read_a_handshake_s_target_alike() {
    let app = chanx::axum::routes(router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let axum_addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let chanx_addr = spawn_server(router()).await;
    for addr in [chanx_addr, axum_addr] {
        // A target hyper refuses is refused on both, not upgraded with a parameter `<x>`.
        let status = http_status(addr, &format!("GET /ws/room/<x>/ HTTP/1.1\r\n{HANDSHAKE_HEADERS}\r\n")).await;
        assert_eq!(status, "HTTP/1.1 400 Bad Request", "{addr}");
        // The fragment is not part of the path.
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut request = format!("GET /ws/room/5/#top HTTP/1.1\r\n{HANDSHAKE_HEADERS}\r\n").into_bytes();
        request.extend(client_text_frame(r#"{"action":"where"}"#));
        stream.write_all(&request).await.expect("write");
        let here: serde_json::Value = serde_json::from_str(&first_text_frame(&mut stream).await).expect("JSON");
        assert_eq!(here["payload"], "/ws/room/5/ in 5", "{addr}");
    }
}

#[tokio::test]
async fn pipelined_plain_requests_are_all_answered_by_chanx_serve() {
    let addr = spawn_server(router()).await;
    let one = "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n";
    let last = "GET /ws/room/1/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let answers = exchange(addr, &format!("{one}{one}{last}")).await;
    // Each answer's status line (a body runs into the next answer's head).
    let statuses: Vec<&str> = answers.split("HTTP/1.1 ").skip(1).map(|a| a.lines().next().unwrap_or("")).collect();
    assert_eq!(statuses, ["404 Not Found", "404 Not Found", "426 Upgrade Required"], "{answers}");
}

#[tokio::test]
async fn an_oversized_message_closes_with_1009() {
    let router = router().with_settings(Settings::default().max_message_size(1024));
    let metrics = router.metrics().clone();
    let addr = spawn_server(router).await;
    let mut client = Client::connect(addr, "/ws/room/1/").await;
    client.send(WsMessage::text("x".repeat(4096))).await;
    assert_eq!(client.close_code().await, Some(1009));
    assert_eq!(metrics.snapshot().message_too_big_closes, 1);
}

#[tokio::test]
async fn events_from_outside_reach_real_clients() {
    let router = router();
    let layer = router.layer().clone();
    let addr = spawn_server(router).await;
    let mut client = Client::connect(addr, "/ws/room/1/").await;
    // The connection has joined "alerts" once it answers a frame.
    client.send_json(&json!({"action": "ping"})).await;
    client.receive_json().await;
    layer.broadcast_event(["alerts"], &Alert { payload: "disk full".into() }).await.expect("sent");
    assert_eq!(client.receive_json().await, json!({"action": "alert", "payload": "disk full"}));
    client.close().await;
}

#[tokio::test]
async fn consumers_mount_in_an_axum_app() {
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .merge(chanx::axum::routes(router()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    assert_eq!(http_status(addr, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await, "HTTP/1.1 200 OK");
    let mut client = Client::connect(addr, "/ws/room/7/").await;
    client.send_json(&json!({"action": "where"})).await;
    assert_eq!(client.receive_json().await, json!({"action": "here", "payload": "/ws/room/7/ in 7"}));
    client.close().await;
}

/// The status line answering a WebSocket upgrade for `Host: localhost:8000` with `extra_headers`.
async fn upgrade_status(addr: std::net::SocketAddr, extra_headers: &str) -> String {
    let request = format!(
        "GET /ws/room/1/ HTTP/1.1\r\nHost: localhost:8000\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra_headers}\r\n"
    );
    http_status(addr, &request).await
}

#[tokio::test]
async fn a_foreign_origin_is_refused_with_403() {
    let router = router().with_settings(Settings::default().allowed_origins(["https://app.example.com"]));
    let metrics = router.metrics().clone();
    let addr = spawn_server(router).await;
    let (refused, upgraded) = ("HTTP/1.1 403 Forbidden", "HTTP/1.1 101 Switching Protocols");
    assert_eq!(upgrade_status(addr, "Origin: http://evil.example\r\n").await, refused);
    assert_eq!(upgrade_status(addr, "Origin: null\r\n").await, refused);
    assert_eq!(upgrade_status(addr, "Origin: http://localhost:8000\r\n").await, upgraded);
    assert_eq!(upgrade_status(addr, "Origin: https://app.example.com\r\n").await, upgraded);
    // Non-browser clients send no Origin at all.
    assert_eq!(upgrade_status(addr, "").await, upgraded);
    assert_eq!(metrics.snapshot().handshakes_refused_origin, 2);

    // The refusal is a whole answer: its status, a `Date`, its text, then the end of the stream.
    let request = format!("GET /ws/room/1/ HTTP/1.1\r\n{HANDSHAKE_HEADERS}Origin: http://evil.example\r\n\r\n");
    let answer = exchange(addr, &request).await;
    assert!(answer.starts_with("HTTP/1.1 403 Forbidden\r\n") && answer.contains("\r\ndate: "), "{answer}");
    assert!(answer.ends_with("\r\n\r\nOrigin not allowed"), "{answer}");

    // A real client from a foreign page gets the refusal as an HTTP error.
    let refused = Client::connect_with(addr, "/ws/room/1/", &[("origin", "http://evil.example")]).await;
    assert!(matches!(refused, Err(tokio_tungstenite::tungstenite::Error::Http(ref r)) if r.status() == 403));
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_reads_is_disconnected_while_a_healthy_one_keeps_receiving() {
    let close_timeout = Duration::from_millis(200);
    let router = router().with_settings(Settings::default().outbound_capacity(16).close_timeout(close_timeout));
    let (metrics, layer) = (router.metrics().clone(), router.layer().clone());
    let (connector, _server) = spawn_memory_server(router, std::future::pending());
    let mut healthy = Client::connect_memory(&connector, "/ws/room/1/").await;
    let mut stalled = Client::connect_memory(&connector, "/ws/room/1/").await;
    // Both are in their groups once they answer a frame.
    healthy.send_json(&json!({"action": "ping"})).await;
    healthy.receive_json().await;
    stalled.send_json(&json!({"action": "ping"})).await;
    // 64 KiB alerts: the stalled client's pipe (64 KiB) and queue (16 frames) fill at once.
    let alert = Alert { payload: "x".repeat(64 * 1024) };
    let mut slowest = Duration::ZERO;
    let mut sent = 0;
    while metrics.snapshot().slow_client_disconnects == 0 {
        assert!(sent < 2_000, "the stalled client was never disconnected");
        let start = Instant::now();
        layer.broadcast_event(["alerts"], &alert).await.expect("sent");
        assert_eq!(healthy.receive_json().await["action"], "alert");
        slowest = slowest.max(start.elapsed());
        sent += 1;
    }
    // The healthy client still gets new frames at once.
    layer.broadcast_event(["alerts"], &Alert { payload: "after".into() }).await.expect("sent");
    assert_eq!(healthy.receive_json().await["payload"], "after");
    // Virtual time: only a wait on a timer (the stalled write's close timeout) would move it.
    assert!(slowest < close_timeout, "a healthy client waited {slowest:?} for one frame");
    let snapshot = metrics.snapshot();
    assert_eq!(snapshot.slow_client_disconnects, 1);
    assert!(snapshot.frames_dropped_queue_full >= 1);
    drop(stalled);
    healthy.close().await;
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_is_timed_out_at_the_idle_timeout_and_a_live_one_is_kept() {
    let idle_timeout = Duration::from_millis(300);
    let settings =
        Settings::default().heartbeat_interval(Some(Duration::from_millis(50))).idle_timeout(Some(idle_timeout));
    let router = router().with_settings(settings);
    let metrics = router.metrics().clone();
    let (connector, _server) = spawn_memory_server(router, std::future::pending());
    let started = Instant::now();
    let mut silent = Client::connect_memory(&connector, "/ws/room/1/").await;
    let mut live = Client::connect_memory(&connector, "/ws/room/1/").await;
    // Reading answers the server's pings: three idle timeouts pass and the connection stays.
    let live = tokio::spawn(async move {
        live.stay_open_for(idle_timeout * 3).await;
        live
    });
    // The silent client reads nothing, so it answers no ping: it is closed when its idle
    // timeout after connecting ends (seen within the 1 ms `settled` checks at).
    settled("the silent client's idle timeout", || metrics.snapshot().idle_timeouts == 1).await;
    let timed_out = started.elapsed();
    assert!(timed_out >= idle_timeout && timed_out <= idle_timeout + Duration::from_millis(1), "{timed_out:?}");
    let mut live = live.await.expect("the live client stayed open");
    assert_eq!(started.elapsed(), idle_timeout * 3);
    assert_eq!(silent.close_code().await, Some(1011));
    live.send_json(&json!({"action": "ping"})).await;
    assert_eq!(live.receive_json().await, json!({"action": "pong", "payload": null}));
    assert_eq!(metrics.snapshot().idle_timeouts, 1);
    live.close().await;
}

#[tokio::test(start_paused = true)]
async fn the_server_pings_at_each_heartbeat_interval_while_frames_stream_out() {
    let heartbeat = Duration::from_secs(2);
    let router = router().with_settings(Settings::default().heartbeat_interval(Some(heartbeat)).idle_timeout(None));
    let layer = router.layer().clone();
    let (connector, _server) = spawn_memory_server(router, std::future::pending());
    let mut client = Client::connect_memory(&connector, "/ws/room/1/").await;
    let connected = Instant::now();
    // An alert every 10 ms keeps the outbound queue busy; the pings still go out on time.
    let alerts = tokio::spawn(async move {
        loop {
            layer.broadcast_event(["alerts"], &Alert { payload: "tick".into() }).await.expect("sent");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let (mut pings, mut texts) = (Vec::new(), 0);
    while pings.len() < 3 {
        match client.next().await {
            WsMessage::Ping(_) => pings.push(connected.elapsed()),
            WsMessage::Text(_) => texts += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    alerts.abort();
    assert_eq!(pings, [heartbeat, heartbeat * 2, heartbeat * 3]);
    assert!(texts >= 500, "{texts} alerts in 6 s");
}

#[tokio::test(start_paused = true)]
async fn handlers_running_when_the_client_leaves_get_the_drain_timeout_then_are_cancelled() {
    let drain_timeout = Duration::from_secs(1);
    let router = router().with_settings(Settings::default().drain_timeout(drain_timeout));
    let metrics = router.metrics().clone();
    let (connector, _server) = spawn_memory_server(router, std::future::pending());
    for nap in [300, 60_000] {
        let mut client = Client::connect_memory(&connector, "/ws/room/1/").await;
        let sent = Instant::now();
        client.send_json(&json!({"action": "nap", "payload": nap})).await;
        all_idle().await;
        let left = Instant::now();
        client.close().await;
        // The connection task ends when the handler does, or at the drain timeout.
        let expected = (sent + Duration::from_millis(nap)).min(left + drain_timeout);
        settled("the connection's end", || metrics.snapshot().connections_open == 0).await;
        let ended = Instant::now();
        assert!(
            ended >= expected && ended - expected <= Duration::from_millis(1),
            "nap {nap}: {:?} late",
            ended - expected
        );
    }
    assert_eq!(metrics.snapshot().client_closes, 2);
}

#[tokio::test(start_paused = true)]
async fn graceful_shutdown_finishes_handlers_then_closes_with_1001() {
    let router = router();
    let metrics = router.metrics().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (connector, server) = spawn_memory_server(router, async move {
        let _ = stopped.await;
    });
    let mut napping = Client::connect_memory(&connector, "/ws/room/1/").await;
    let mut idle = Client::connect_memory(&connector, "/ws/room/2/").await;
    let started = Instant::now();
    napping.send_json(&json!({"action": "nap", "payload": 300})).await;
    // Once every task waits, the nap has begun.
    all_idle().await;
    stop.send(()).expect("the server is running");

    assert_eq!(idle.close_code().await, Some(1001));
    assert!(started.elapsed() < Duration::from_millis(300), "an idle socket closes at once");
    // The handler in flight finished and its reply was written before the close.
    assert_eq!(napping.receive_json().await, json!({"action": "napped", "payload": 300}));
    assert_eq!(started.elapsed(), Duration::from_millis(300), "the nap ran to its end");
    assert_eq!(napping.close_code().await, Some(1001));
    let served = tokio::time::timeout(Duration::from_secs(5), server).await;
    assert!(matches!(served, Ok(Ok(Ok(())))), "serve returned {served:?}");
    assert!(connector.connect().is_err(), "the listener is closed");
    let snapshot = metrics.snapshot();
    assert_eq!((snapshot.shutdown_closes, snapshot.connections_open), (2, 0));
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_finishes_its_handshake_is_dropped_at_the_handshake_timeout() {
    let handshake_timeout = Duration::from_millis(200);
    let router = router().with_settings(Settings::default().handshake_timeout(handshake_timeout));
    let (connector, _server) = spawn_memory_server(router, std::future::pending());
    let started = Instant::now();
    let mut stream = connector.connect().expect("connect");
    stream.write_all(b"GET /ws/room/1/ HTTP/1.1\r\nHost: x\r\n").await.expect("write half a request");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    // hyper answers 408 or just closes; either way the socket does not stay open.
    assert!(read.is_ok(), "the server kept a half-sent handshake for 5 s");
    assert!(answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"), "{:?}", String::from_utf8_lossy(&answer));
    assert_eq!(started.elapsed(), handshake_timeout);
}

#[tokio::test(start_paused = true)]
async fn a_half_sent_handshake_is_closed_at_shutdown_not_at_its_timeout() {
    let router = router().with_settings(Settings::default().handshake_timeout(Duration::from_secs(30)));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (connector, server) = spawn_memory_server(router, async move { drop(stopped.await) });
    let mut stream = connector.connect().expect("connect");
    stream.write_all(b"GET /ws/room/1/ HTTP/1.1\r\nHost: x\r\n").await.expect("write half a request");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let shutdown_at = Instant::now();
    stop.send(()).expect("server running");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("closed");
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
    server.await.expect("joined").expect("served");
    assert_eq!(shutdown_at.elapsed(), Duration::ZERO);
}

/// Only for holders of the `sessionid` cookie "letmein".
struct Members;

#[chanx::consumer]
impl chanx::Consumer for Members {
    type Authenticator = chanx::auth::TokenAuthenticator<String>;

    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }
}

#[tokio::test]
async fn bytes_that_are_not_text_in_credentials_are_refused_with_401_not_a_crash() {
    use chanx::auth::{CookieToken, IsAuthenticated, TokenAuthenticator};
    let auth = TokenAuthenticator::new(CookieToken::new("sessionid"), |token: String| async move {
        (token == "letmein").then_some(token)
    })
    .permission(IsAuthenticated);
    let addr = spawn_server(Router::new().route_authenticated("/ws/members/", auth, |_: &Scope| Members)).await;
    for cookie in [&b"sessionid=\xff\xfe"[..], b"\xc3\x28=\xa0\xa1", b"sessionid", b"=;=;;"] {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut request = b"GET /ws/members/ HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
            Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: "
            .to_vec();
        request.extend_from_slice(cookie);
        request.extend_from_slice(b"\r\n\r\n");
        stream.write_all(&request).await.expect("write");
        let frame = first_text_frame(&mut stream).await;
        let auth: serde_json::Value = serde_json::from_str(&frame).expect("JSON");
        assert_eq!(auth["payload"]["status_code"], 401, "{cookie:?}: {auth}");
    }
    // The server still serves.
    let mut client = Client::connect_with(addr, "/ws/members/", &[("cookie", "sessionid=letmein")]).await.expect("ok");
    assert_eq!(client.receive_json().await["payload"]["status_code"], 200);
    client.close().await;
}

/// The first server frame after a raw handshake (server frames are unmasked; ours are short).
async fn first_text_frame(stream: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]);
            assert!(head.starts_with("HTTP/1.1 101"), "{head}");
            let frame = &buf[end + 4..];
            if frame.len() >= 4 {
                assert_eq!(frame[0], 0x81, "a final text frame");
                let (len, start) = match frame[1] & 0x7f {
                    126 => (usize::from(u16::from_be_bytes([frame[2], frame[3]])), 4),
                    len => (usize::from(len), 2),
                };
                if frame.len() >= start + len {
                    return String::from_utf8_lossy(&frame[start..start + len]).into_owned();
                }
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await.expect("in time");
        let n = n.expect("read");
        assert!(n > 0, "closed before the first frame: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Everything the server sends in answer to `request` until it closes the connection.
async fn exchange(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .expect("in time")
        .expect("read");
    String::from_utf8_lossy(&response).into_owned()
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let response = exchange(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).await;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (head.to_owned(), body.to_owned())
}

#[tokio::test]
async fn the_asyncapi_document_and_its_page_are_served_by_chanx_and_by_axum() {
    let spec = chanx::asyncapi::AsyncApi::new("Rooms", "1.0.0");
    let router = router().asyncapi("/asyncapi/", spec);
    let app = axum::Router::new().merge(chanx::axum::routes(router.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let axum_addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    for addr in [spawn_server(router).await, axum_addr] {
        let (head, body) = http_get(addr, "/asyncapi/asyncapi.json").await;
        assert!(head.starts_with("HTTP/1.1 200") && head.contains("application/json"), "{head}");
        let doc: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(doc["channels"]["room"]["address"], "/ws/room/{room}/");
        let (head, body) = http_get(addr, "/asyncapi/asyncapi.yaml").await;
        assert!(head.contains("application/yaml"), "{head}");
        // YAML proper since the typed document (no JSON-style quoted keys).
        assert!(body.contains("\n    address: /ws/room/{room}/\n"), "{body}");
        let (head, page) = http_get(addr, "/asyncapi/").await;
        assert!(head.contains("text/html"), "{head}");
        assert!(page.contains("\"asyncapi\":\"3.0.0\""), "the document is inline");
        assert!(!page.contains("src=\"http") && !page.contains("href=\"http"), "nothing is loaded from the network");
        assert_eq!(http_get(addr, "/asyncapi/other").await.0.lines().next(), Some("HTTP/1.1 404 Not Found"));
    }
}
