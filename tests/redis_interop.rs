//! Interoperability with the real Python `channels_redis` package: a Python process using
//! `RedisPubSubChannelLayer` and a chanx-rs server exchange group messages and events through one
//! Redis, both ways, on one Redis and sharded over two. The Python comes from `CHANX_TEST_PYTHON` (a virtual environment with
//! `channels_redis`; `.ci/run` makes one).

use std::process::Stdio;
use std::time::Duration;

use chanx::layer::RedisLayer;
use chanx::{Layer, Router, Scope};
use chanx_workspace::messages::Said;
use chanx_workspace::{Client, Member, OwnRedis, free_port, skip_or_fail, spawn_server, test_redis_url, unique_prefix};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The Python side: joins the groups on a new channel, prints it, prints each of the first
/// messages it receives (one per group), then, given our client's channel on stdin, sends it an
/// event and a group message to each group.
const PYTHON: &str = r#"
import asyncio, json, sys
from channels_redis.pubsub import RedisPubSubChannelLayer

async def main():
    hosts, prefix, groups = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    layer = RedisPubSubChannelLayer(hosts=hosts, prefix=prefix)
    channel = await layer.new_channel()
    for group in groups:
        await layer.group_add(group, channel)
    print(json.dumps({"channel": channel}), flush=True)
    for _ in groups:
        print(json.dumps(await asyncio.wait_for(layer.receive(channel), 10)), flush=True)
    rust_channel = (await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)).strip()
    await layer.send(rust_channel, {"type": "handle_channel_event", "event_data": {"action": "job_done", "payload": 42}})
    for group in groups:
        await layer.group_send(group, {
            "type": "handle_group_message",
            "message": {"action": "said", "payload": f"hello from Python to {group}"},
            "exclude_current": False,
            "from_channel": channel,
        })
    print(json.dumps({"done": True}), flush=True)
    await layer.flush()

asyncio.run(main())
"#;

fn python() -> Option<String> {
    match std::env::var("CHANX_TEST_PYTHON") {
        Ok(python) if !python.is_empty() => Some(python),
        _ => skip_or_fail("CHANX_TEST_PYTHON is not set (a Python with channels_redis)"),
    }
}

/// Runs the exchange both ways between a chanx server and the Python layer, over `urls`.
async fn exchange(python: &str, urls: &[String], prefix: &str, groups: &[&str]) {
    let layer = RedisLayer::builder(urls.iter().cloned()).prefix(prefix).build().expect("layer");
    let handle = Layer::new(layer);
    let addr = spawn_server(Router::new().route("/ws/member/", |_: &Scope| Member).with_layer(handle.clone())).await;
    let mut client = Client::connect(addr, &format!("/ws/member/?groups={}", groups.join(","))).await;
    client.send_json(&json!({"action": "whoami"})).await;
    let rust_channel = client.receive_json().await["payload"].as_str().expect("channel").to_owned();

    let mut child = tokio::process::Command::new(python)
        .args(["-c", PYTHON, &json!(urls).to_string(), prefix, &json!(groups).to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next_line = async || -> Value {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
        let line = line.expect("Python answered in time").expect("read").expect("a line");
        serde_json::from_str(&line).expect("JSON from Python")
    };
    let python_channel = next_line().await["channel"].as_str().expect("channel").to_owned();
    assert!(python_channel.starts_with(&format!("{prefix}specific.")), "{python_channel}");

    // chanx → Python: a group message to each group, as channels_redis decodes it.
    for group in groups {
        let said = Said { payload: format!("hello from Rust to {group}") };
        handle.broadcast_message([group], &said).await.expect("published");
        let expected = json!({
            "type": "handle_group_message",
            "message": {"action": "said", "payload": format!("hello from Rust to {group}")},
            "exclude_current": false,
            "from_channel": null
        });
        assert_eq!(next_line().await, expected);
        assert_eq!(client.receive_json().await["payload"], format!("hello from Rust to {group}"));
    }

    // Python → chanx: an event to our client's channel, and a group message to each group.
    stdin.write_all(format!("{rust_channel}\n").as_bytes()).await.expect("write");
    stdin.flush().await.expect("flush");
    assert_eq!(next_line().await, json!({"done": true}));
    let mut received = Vec::new();
    for _ in 0..=groups.len() {
        received.push(client.receive_json().await);
    }
    received.sort_by_key(|frame| frame.to_string());
    let mut expected = vec![json!({"action": "job_status", "payload": "job 42 done"})];
    expected.extend(groups.iter().map(|g| json!({"action": "said", "payload": format!("hello from Python to {g}")})));
    expected.sort_by_key(|frame| frame.to_string());
    assert_eq!(received, expected);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("exits").expect("status");
    assert!(status.success(), "python exited with {status}");
    client.close().await;
}

#[tokio::test]
async fn python_channels_redis_and_chanx_exchange_messages_both_ways() {
    let Some(url) = test_redis_url().await else { return };
    let Some(python) = python() else { return };
    exchange(&python, &[url], &unique_prefix("interop"), &["lobby"]).await;
}

#[tokio::test]
async fn sharded_over_two_redis_servers_python_and_chanx_pick_the_same_shard() {
    let Some(python) = python() else { return };
    let Some(first) = OwnRedis::start(free_port()) else { return };
    let port = std::iter::repeat_with(free_port).find(|port| *port != first.port).expect("another port");
    let Some(second) = OwnRedis::start(port) else { return };
    first.wait_ready().await;
    second.wait_ready().await;
    let urls = [first.url(), second.url()];
    // With prefix "asgi" and two shards, channels_redis puts "room.1" on the first server and
    // "alerts" on the second. Each side publishes a group's messages on the server it computes
    // and subscribes there too, so any disagreement about a shard loses messages and fails here.
    exchange(&python, &urls, "asgi", &["room.1", "alerts"]).await;
}

/// The Python side of a close: joins `audit` (only Python is in it) and `staff` (our client
/// too), prints the first message it receives and the Channels consumer method it would run,
/// then asks, through the layer, for every connection of `staff` to close.
const PYTHON_CLOSE: &str = r#"
import asyncio, json, sys
from channels.consumer import get_handler_name
from channels_redis.pubsub import RedisPubSubChannelLayer

async def main():
    hosts, prefix = json.loads(sys.argv[1]), sys.argv[2]
    layer = RedisPubSubChannelLayer(hosts=hosts, prefix=prefix)
    channel = await layer.new_channel()
    for group in ["audit", "staff"]:
        await layer.group_add(group, channel)
    print(json.dumps({"channel": channel}), flush=True)
    message = await asyncio.wait_for(layer.receive(channel), 10)
    print(json.dumps({"message": message, "handler": get_handler_name(message)}), flush=True)
    await layer.group_send("staff", {"type": "handle_close_connection", "code": 4403, "reason": "revoked from Python"})
    print(json.dumps({"done": True}), flush=True)
    await layer.flush()

asyncio.run(main())
"#;

#[tokio::test]
async fn close_requests_cross_between_python_channels_redis_and_chanx_both_ways() {
    let Some(url) = test_redis_url().await else { return };
    let Some(python) = python() else { return };
    let prefix = unique_prefix("interop-close");
    let layer = Layer::new(RedisLayer::builder([url.clone()]).prefix(&prefix).build().expect("layer"));
    let addr = spawn_server(Router::new().route("/ws/member/", |_: &Scope| Member).with_layer(layer.clone())).await;
    let mut client = Client::connect(addr, "/ws/member/?groups=staff").await;
    client.send_json(&json!({"action": "whoami"})).await;
    client.receive_json().await;

    let mut child = tokio::process::Command::new(python)
        .args(["-c", PYTHON_CLOSE, &json!([url]).to_string(), &prefix])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next_line = async || -> Value {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
        let line = line.expect("Python answered in time").expect("read").expect("a line");
        serde_json::from_str(&line).expect("JSON from Python")
    };
    next_line().await;

    // chanx → Python: what a Django Channels consumer in the group receives and would run.
    layer.close_group("audit", 4403, "revoked from Rust").await.expect("published");
    let expected = json!({"type": "handle_close_connection", "code": 4403, "reason": "revoked from Rust"});
    assert_eq!(next_line().await, json!({"message": expected, "handler": "handle_close_connection"}));

    // Python → chanx: closes our client, with Python's code and reason.
    assert_eq!(next_line().await, json!({"done": true}));
    assert_eq!(client.close_frame().await, Some((4403, "revoked from Python".to_owned())));
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("exits").expect("status");
    assert!(status.success(), "python exited with {status}");
}
