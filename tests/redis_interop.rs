//! Interoperability with the real Python `channels_redis` package: a Python process using
//! `RedisPubSubChannelLayer` and a chanx-rs server exchange group messages and events through one
//! Redis, both ways. The Python comes from `CHANX_TEST_PYTHON` (a virtual environment with
//! `channels_redis`; `.ci/run` makes one).

use std::process::Stdio;
use std::time::Duration;

use chanx::layer::RedisLayer;
use chanx::{Context, Layer, Router, Scope};
use chanx_workspace::messages::{JobDone, JobStatus, Said, WhoAmI, YouAre};
use chanx_workspace::{Client, skip_or_fail, spawn_server, test_redis_url, unique_prefix};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

struct Lobby;

#[chanx::consumer(groups = ["lobby"])]
impl Lobby {
    #[ws_handler]
    async fn whoami(&self, ctx: &Context, _msg: WhoAmI) -> YouAre {
        YouAre { payload: ctx.channel_name().to_owned() }
    }

    #[event_handler]
    async fn job_done(&self, event: JobDone) -> JobStatus {
        JobStatus { payload: format!("job {} done", event.payload) }
    }
}

/// The Python side: joins `lobby` on a new channel, prints it, prints the first message it
/// receives, then, on a line from us naming our client's channel, sends it an event and
/// broadcasts a group message to `lobby`.
const PYTHON: &str = r#"
import asyncio, json, sys
from channels_redis.pubsub import RedisPubSubChannelLayer

async def main():
    url, prefix = sys.argv[1], sys.argv[2]
    layer = RedisPubSubChannelLayer(hosts=[url], prefix=prefix)
    channel = await layer.new_channel()
    await layer.group_add("lobby", channel)
    print(json.dumps({"channel": channel}), flush=True)
    message = await asyncio.wait_for(layer.receive(channel), 10)
    print(json.dumps(message), flush=True)
    rust_channel = (await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)).strip()
    await layer.send(rust_channel, {"type": "handle_channel_event", "event_data": {"action": "job_done", "payload": 42}})
    await layer.group_send("lobby", {
        "type": "handle_group_message",
        "message": {"action": "said", "payload": "hello from Python"},
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

#[tokio::test]
async fn python_channels_redis_and_chanx_exchange_messages_both_ways() {
    let Some(url) = test_redis_url().await else { return };
    let Some(python) = python() else { return };
    let prefix = unique_prefix("interop");
    let layer = RedisLayer::builder([url.as_str()]).prefix(&prefix).build().expect("layer");
    let handle = Layer::new(layer);
    let addr = spawn_server(Router::new().route("/ws/lobby/", |_: &Scope| Lobby).layer(handle.clone())).await;
    let mut client = Client::connect(addr, "/ws/lobby/").await;
    client.send_json(&json!({"action": "whoami"})).await;
    let rust_channel = client.receive_json().await["payload"].as_str().expect("channel").to_owned();

    let mut child = tokio::process::Command::new(&python)
        .args(["-c", PYTHON, &url, &prefix])
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

    // chanx → Python: a group message to `lobby`, as channels_redis decodes it.
    handle.broadcast_message(["lobby"], &Said { payload: "hello from Rust".into() }).await.expect("published");
    assert_eq!(
        next_line().await,
        json!({
            "type": "handle_group_message",
            "message": {"action": "said", "payload": "hello from Rust"},
            "exclude_current": false,
            "from_channel": null
        })
    );
    assert_eq!(client.receive_json().await, json!({"action": "said", "payload": "hello from Rust"}));

    // Python → chanx: an event to our client's channel, and a group message to `lobby`.
    stdin.write_all(format!("{rust_channel}\n").as_bytes()).await.expect("write");
    stdin.flush().await.expect("flush");
    assert_eq!(next_line().await, json!({"done": true}));
    let mut received = vec![client.receive_json().await, client.receive_json().await];
    received.sort_by_key(|frame| frame["action"].to_string());
    assert_eq!(
        received,
        [
            json!({"action": "job_status", "payload": "job 42 done"}),
            json!({"action": "said", "payload": "hello from Python"}),
        ]
    );
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("exits").expect("status");
    assert!(status.success(), "python exited with {status}");
    client.close().await;
}
