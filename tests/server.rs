//! The server over real sockets on 127.0.0.1: handshake, routing, path parameters, error frames,
//! size limits, events from outside a connection, and mounting in axum.

use chanx::messages::{Ping, Pong};
use chanx::{Context, Message, Router, Scope, Settings};
use chanx_workspace::{Client, spawn_server};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

struct RoomConsumer;

#[chanx::consumer(groups = ["alerts"], passthrough = [Alert])]
impl RoomConsumer {
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
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
}

#[tokio::test]
async fn an_oversized_message_closes_with_1009() {
    let addr = spawn_server(router().settings(Settings::default().max_message_size(1024))).await;
    let mut client = Client::connect(addr, "/ws/room/1/").await;
    client.send(WsMessage::text("x".repeat(4096))).await;
    assert_eq!(client.close_code().await, Some(1009));
}

#[tokio::test]
async fn events_from_outside_reach_real_clients() {
    let router = router();
    let layer = router.channel_layer().clone();
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
