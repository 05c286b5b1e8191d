//! Topic pushes cross between chanx 2.13 itself (Python: its `Topic` and consumer classes on
//! Django Channels, with the real `channels_redis` layer) and chanx-rs, both ways, through one
//! Redis: each side's `RoomTopic.broadcast` reaches the other side's subscribers, because both
//! send chanx's `handle_topic_event` message to chanx's group name (`RoomTopic.room-lobby`).
//! The Python side is `tests/python/chanx_topic_peer.py`; it comes from `CHANX_TEST_CHANX_PYTHON`
//! (a virtual environment with `chanx[channels]==2.13.0` and `channels_redis==4.3.0`; `.ci/run`
//! makes one).

use std::process::Stdio;
use std::time::Duration;

use chanx::layer::RedisLayer;
use chanx::{Consumer, Layer, Message, Router, Scope, Topic};
use chanx_workspace::{Client, skip_or_fail, spawn_server, test_redis_url, unique_prefix};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The event both processes push to a room, as the Python side declares it.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
#[message(action = "shouted")]
struct ShoutedEvent {
    payload: Shout,
}

/// What a subscriber's client receives for it.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
#[message(action = "shouted")]
struct Shouted {
    payload: Shout,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug)]
struct Shout {
    text: String,
}

/// Named as the Python class is: the type name is the namespace of the group name.
#[derive(Default)]
struct RoomTopic;

#[chanx::topic(pattern = "room:{name}")]
impl Topic for RoomTopic {
    #[event_handler]
    async fn shouted(&self, event: ShoutedEvent) -> Shouted {
        Shouted { payload: event.payload }
    }
}

struct HubConsumer;

#[chanx::consumer(topics = [RoomTopic])]
impl Consumer for HubConsumer {}

fn chanx_python() -> Option<String> {
    match std::env::var("CHANX_TEST_CHANX_PYTHON") {
        Ok(python) if !python.is_empty() => Some(python),
        _ => skip_or_fail("CHANX_TEST_CHANX_PYTHON is not set (a Python with chanx[channels] and channels_redis)"),
    }
}

#[tokio::test]
async fn topic_pushes_cross_between_python_chanx_and_chanx_rs_both_ways() {
    let Some(url) = test_redis_url().await else { return };
    let Some(python) = chanx_python() else { return };
    let prefix = unique_prefix("topic-interop");
    let layer = Layer::new(RedisLayer::builder([url.clone()]).prefix(&prefix).build().expect("layer"));
    let addr = spawn_server(Router::new().route("/ws/hub/", |_: &Scope| HubConsumer).with_layer(layer.clone())).await;
    let mut client = Client::connect(addr, "/ws/hub/").await;
    client.send_json(&json!({"version": 1, "topic": "room:lobby", "ref": "1", "action": "subscribe"})).await;
    let subscribed = client.receive_json().await;
    assert_eq!(
        subscribed,
        json!({"action": "subscribed", "payload": null, "version": 1, "topic": "room:lobby", "ref": "1"})
    );

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/chanx_topic_peer.py");
    let mut child = tokio::process::Command::new(python)
        .args([script, &json!([url]).to_string(), &prefix, "room:lobby"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next_line = async || -> Value {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
        let line = line.expect("Python answered in time").expect("read").expect("a line");
        serde_json::from_str(&line).expect("JSON from Python")
    };

    // Both sides name the group alike, and Python's subscription is confirmed as ours was.
    let ready = next_line().await;
    assert_eq!(ready["group"], RoomTopic::group_name("room:lobby"));
    assert_eq!(ready["group"], "RoomTopic.room-lobby");
    assert_eq!(ready["subscribed"], subscribed);

    // chanx-rs → Python: chanx's layer message, and the same frame on both sides' clients.
    let shout = ShoutedEvent { payload: Shout { text: "hello from Rust".into() } };
    RoomTopic::broadcast(&layer, "room:lobby", &shout, Some(1)).await.expect("published");
    let ours = client.receive_json().await;
    assert_eq!(
        ours,
        json!({"action": "shouted", "payload": {"text": "hello from Rust"}, "version": 1, "topic": "room:lobby", "seq": 1})
    );
    stdin.write_all(b"pushed\n").await.expect("write");
    stdin.flush().await.expect("flush");
    let seen = next_line().await;
    assert_eq!(
        seen["layer_message"],
        json!({
            "type": "handle_topic_event",
            "topic": "room:lobby",
            "seq": 1,
            "event_data": {"action": "shouted", "payload": {"text": "hello from Rust"}}
        })
    );
    assert_eq!(seen["frame"], ours, "chanx's client got what ours got");

    // Python → chanx-rs: `RoomTopic.broadcast(..., seq=2)` reaches our subscriber.
    let pushed = next_line().await["pushed"].clone();
    assert_eq!(pushed["type"], "handle_topic_event");
    let theirs = next_line().await["frame"].clone();
    let ours = client.receive_json().await;
    assert_eq!(
        ours,
        json!({"action": "shouted", "payload": {"text": "hello from Python"}, "version": 1, "topic": "room:lobby", "seq": 2})
    );
    assert_eq!(theirs, ours, "our client got what chanx's got");

    assert_eq!(next_line().await["unsubscribed"]["action"], "unsubscribed");
    assert_eq!(next_line().await, json!({"done": true}));
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("exits").expect("status");
    assert!(status.success(), "python exited with {status}");
    client.close().await;
}

/// The same room, keeping history: its pushes are numbered and kept in Redis by one script.
mod with_history {
    use super::{Shouted, ShoutedEvent};

    #[derive(Default)]
    pub(crate) struct RoomTopic;

    #[chanx::topic(pattern = "room:{name}", history(size = 100, ttl = "5m"))]
    impl chanx::Topic for RoomTopic {
        #[event_handler]
        async fn shouted(&self, event: ShoutedEvent) -> Shouted {
            Shouted { payload: event.payload }
        }
    }

    pub(crate) struct HubConsumer;

    #[chanx::consumer(topics = [RoomTopic])]
    impl chanx::Consumer for HubConsumer {}
}

#[tokio::test]
async fn a_history_push_from_redis_is_an_ordinary_topic_push_for_python_chanx() {
    use with_history::{HubConsumer, RoomTopic};
    let Some(url) = test_redis_url().await else { return };
    let Some(python) = chanx_python() else { return };
    let prefix = unique_prefix("topic-interop-history");
    let layer = Layer::new(RedisLayer::builder([url.clone()]).prefix(&prefix).build().expect("layer"));
    let addr = spawn_server(Router::new().route("/ws/hub/", |_: &Scope| HubConsumer).with_layer(layer.clone())).await;
    let mut client = Client::connect(addr, "/ws/hub/").await;
    let subscribe = json!({"version": 1, "topic": "room:lobby", "ref": "1", "action": "subscribe",
        "payload": {"since": {"seq": 0, "epoch": ""}}});
    client.send_json(&subscribe).await;
    assert_eq!(client.receive_json().await["payload"]["recovered"], false);

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/chanx_topic_peer.py");
    let mut child = tokio::process::Command::new(python)
        .args([script, &json!([url]).to_string(), &prefix, "room:lobby"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next_line = async || -> Value {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
        let line = line.expect("Python answered in time").expect("read").expect("a line");
        serde_json::from_str(&line).expect("JSON from Python")
    };
    assert_eq!(next_line().await["group"], "RoomTopic.room-lobby");

    // The Lua script published it: Python's channels_redis decodes chanx's layer message, with
    // the seq the script assigned, and chanx's client gets the frame ours got.
    let shout = ShoutedEvent { payload: Shout { text: "hello from Rust".into() } };
    RoomTopic::broadcast(&layer, "room:lobby", &shout, None).await.expect("published");
    let ours = client.receive_json().await;
    assert_eq!(ours["seq"], 1, "{ours}");
    stdin.write_all(b"pushed\n").await.expect("write");
    stdin.flush().await.expect("flush");
    let seen = next_line().await;
    assert_eq!(
        seen["layer_message"],
        json!({
            "type": "handle_topic_event",
            "topic": "room:lobby",
            "seq": 1,
            "event_data": {"action": "shouted", "payload": {"text": "hello from Rust"}}
        })
    );
    assert_eq!(seen["frame"], ours, "chanx's client got what ours got");
    // Python's own push (its seq, not kept) still reaches ours; then it finishes.
    assert_eq!(next_line().await["pushed"]["type"], "handle_topic_event");
    let _ = next_line().await;
    assert_eq!(client.receive_json().await["seq"], 2);
    assert_eq!(next_line().await["unsubscribed"]["action"], "unsubscribed");
    assert_eq!(next_line().await, json!({"done": true}));
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("exits").expect("status");
    assert!(status.success(), "python exited with {status}");
    client.close().await;
}
