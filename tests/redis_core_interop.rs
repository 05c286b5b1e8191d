//! A chanx-rs process joins a Django Channels deployment on its default layer,
//! `channels_redis.core.RedisChannelLayer`: a real Django Channels consumer served by daphne (the
//! Channels ASGI server) and a chanx-rs server on [`RedisCoreLayer`] share a group through the
//! machine's Redis, and broadcasts, typed events and direct sends to one connection's channel
//! cross both ways; then the same over two sharded Redis servers; and messages past a channel's
//! capacity are counted. The Python comes from `CHANX_TEST_PYTHON` (a virtual environment with
//! `channels`, `channels_redis` and `daphne`; `.ci/run` makes one).

use std::process::Stdio;
use std::time::Duration;

use chanx::layer::{LayerError, RedisCoreLayer};
use chanx::{Layer, Router, Scope};
use chanx_workspace::messages::JobDone;
use chanx_workspace::{Client, Member, OwnRedis, free_port, skip_or_fail, spawn_server, test_redis_url, unique_prefix};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// A Django project in one file, served by daphne on a free port (printed once listening):
/// settings with the core layer as `CHANNEL_LAYERS["default"]`, and a consumer that speaks as
/// the tests' chanx-rs `Member` does. It handles chanx's layer messages (`handle_group_message`,
/// `handle_channel_event`) as a chanx consumer does; `say` broadcasts to `lobby`, `broadcast_job`
/// sends a typed event to `lobby`, and `notify` sends one to a single channel name.
const DJANGO: &str = r#"
import json, sys
import daphne.server  # installs Twisted's asyncio reactor, before anything else touches it
import django
from django.conf import settings

hosts, prefix = json.loads(sys.argv[1]), sys.argv[2]
settings.configure(
    INSTALLED_APPS=["channels"],
    CHANNEL_LAYERS={"default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": hosts, "prefix": prefix},
    }},
)
django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path


def job_done(job):
    return {"type": "handle_channel_event", "event_data": {"action": "job_done", "payload": job}}


class Member(AsyncJsonWebsocketConsumer):
    async def connect(self):
        await self.channel_layer.group_add("lobby", self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard("lobby", self.channel_name)

    async def receive_json(self, content):
        action, payload = content["action"], content.get("payload")
        if action == "whoami":
            await self.send_json({"action": "you_are", "payload": self.channel_name})
        elif action == "say":
            await self.channel_layer.group_send("lobby", {
                "type": "handle_group_message",
                "message": content,
                "exclude_current": False,
                "from_channel": self.channel_name,
            })
        elif action == "broadcast_job":
            await self.channel_layer.group_send("lobby", job_done(payload))
        elif action == "notify":
            await self.channel_layer.send(payload["channel"], job_done(payload["job"]))

    async def handle_group_message(self, event):
        await self.send_json(event["message"])

    async def handle_channel_event(self, event):
        data = event["event_data"]
        if data["action"] == "job_done":
            await self.send_json({"action": "job_status", "payload": f"job {data['payload']} done"})


application = ProtocolTypeRouter({"websocket": URLRouter([path("ws/member/", Member.as_asgi())])})
server = daphne.server.Server(
    application=application,
    endpoints=["tcp:port=0:interface=127.0.0.1"],
    signal_handlers=False,
    verbosity=0,
    ready_callable=lambda: print(json.dumps({"port": server.listening_addresses[0][1]}), flush=True),
)
server.run()
"#;

fn python() -> Option<String> {
    match std::env::var("CHANX_TEST_PYTHON") {
        Ok(python) if !python.is_empty() => Some(python),
        _ => skip_or_fail("CHANX_TEST_PYTHON is not set (a Python with channels, channels_redis and daphne)"),
    }
}

/// A Python process answering in JSON lines.
struct Python {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Python {
    fn start(python: &str, script: &str, args: &[String]) -> Python {
        let mut child = tokio::process::Command::new(python)
            .arg("-c")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python starts");
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Python { child, stdin, lines }
    }

    async fn line(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(20), self.lines.next_line()).await;
        let line = line.expect("Python answered in time").expect("read").expect("a line (see Python's stderr above)");
        serde_json::from_str(&line).expect("JSON from Python")
    }

    async fn ask(&mut self, command: Value) -> Value {
        self.stdin.write_all(format!("{command}\n").as_bytes()).await.expect("write");
        self.stdin.flush().await.expect("flush");
        self.line().await
    }
}

fn job_status(job: u32) -> Value {
    json!({"action": "job_status", "payload": format!("job {job} done")})
}

fn job_done_event(job: u32) -> Value {
    json!({"type": "handle_channel_event", "event_data": {"action": "job_done", "payload": job}})
}

/// A client of `addr`'s `/ws/member/` in group `lobby`, and its connection's channel name.
async fn member(addr: std::net::SocketAddr, query: &str) -> (Client, String) {
    let mut client = Client::connect(addr, &format!("/ws/member/{query}")).await;
    client.send_json(&json!({"action": "whoami"})).await;
    let channel = client.receive_json().await["payload"].as_str().expect("channel").to_owned();
    // A process-specific channel name of channels_redis's shape.
    let (process, local) = channel.strip_prefix("specific.").and_then(|c| c.split_once('!')).expect(&channel);
    assert!(process.len() == 32 && local.len() == 32, "{channel}");
    (client, channel)
}

/// A chanx-rs server on the core layer over `urls`, and a Django one, each with a client in `lobby`.
async fn exchange(python: &str, urls: &[String], prefix: &str) {
    let layer = Layer::new(RedisCoreLayer::builder(urls.iter().cloned()).prefix(prefix).build().expect("layer"));
    let addr = spawn_server(Router::new().route("/ws/member/", |_: &Scope| Member).with_layer(layer.clone())).await;
    let (mut rust, rust_channel) = member(addr, "?groups=lobby").await;

    let mut django_server = Python::start(python, DJANGO, &[json!(urls).to_string(), prefix.to_owned()]);
    let port = django_server.line().await["port"].as_u64().and_then(|port| u16::try_from(port).ok()).expect("a port");
    let (mut django, django_channel) = member(([127, 0, 0, 1], port).into(), "").await;

    // A chanx-rs consumer's broadcast reaches the Django consumer in the group, and itself.
    let said = json!({"action": "say", "payload": "hello from Rust"});
    rust.send_json(&said).await;
    assert_eq!(rust.receive_json().await, said);
    assert_eq!(django.receive_json().await, said);

    // The Django consumer's broadcast reaches the chanx-rs consumer.
    let said = json!({"action": "say", "payload": "hello from Django"});
    django.send_json(&said).await;
    assert_eq!(django.receive_json().await, said);
    assert_eq!(rust.receive_json().await, said);

    // Typed events to the group, from each side, run each consumer's handler.
    layer.broadcast_event(["lobby"], &JobDone { payload: 1 }).await.expect("sent");
    assert_eq!(rust.receive_json().await, job_status(1));
    assert_eq!(django.receive_json().await, job_status(1));
    django.send_json(&json!({"action": "broadcast_job", "payload": 2})).await;
    assert_eq!(django.receive_json().await, job_status(2));
    assert_eq!(rust.receive_json().await, job_status(2));

    // `send_event` to one connection's channel name reaches that connection only, both ways.
    layer.send_event(&django_channel, &JobDone { payload: 3 }).await.expect("sent");
    assert_eq!(django.receive_json().await, job_status(3));
    django.send_json(&json!({"action": "notify", "payload": {"channel": rust_channel, "job": 4}})).await;
    // Job 3 went to Django's connection only: the next frame here is job 4 ...
    assert_eq!(rust.receive_json().await, job_status(4));
    // ... and job 4 to ours only: Django's next frame is the answer to what it sends next.
    django.send_json(&json!({"action": "whoami"})).await;
    assert_eq!(django.receive_json().await["action"], "you_are");

    rust.close().await;
    django.close().await;
}

#[tokio::test]
async fn a_django_channels_consumer_and_a_chanx_consumer_share_groups_events_and_channels() {
    let Some(url) = test_redis_url().await else { return };
    let Some(python) = python() else { return };
    exchange(&python, &[url], &unique_prefix("core-interop")).await;
}

#[tokio::test]
async fn sharded_over_two_redis_servers_django_and_chanx_find_each_others_keys() {
    let Some(python) = python() else { return };
    let Some(first) = OwnRedis::start(free_port()) else { return };
    let port = std::iter::repeat_with(free_port).find(|port| *port != first.port).expect("another port");
    let Some(second) = OwnRedis::start(port) else { return };
    first.wait_ready().await;
    second.wait_ready().await;
    // With prefix "asgi" and two shards, channels_redis keeps group "lobby" on the first server,
    // and each process's messages on the server its name hashes to; any disagreement about a
    // shard loses messages and fails here.
    exchange(&python, &[first.url(), second.url()], "asgi").await;
}

/// A Python process with a channel in group `queue` that reads nothing until told how many
/// messages to read; then prints them, and whether anything else was waiting.
const SLOW_READER: &str = r#"
import asyncio, json, sys
from channels_redis.core import RedisChannelLayer

async def main():
    hosts, prefix, capacity = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    layer = RedisChannelLayer(hosts=hosts, prefix=prefix, capacity=capacity)
    channel = await layer.new_channel()
    await layer.group_add("queue", channel)
    print(json.dumps({"channel": channel}), flush=True)
    count = int(await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))
    received = [await asyncio.wait_for(layer.receive(channel), 10) for _ in range(count)]
    try:
        more = await asyncio.wait_for(layer.receive(channel), 1)
    except asyncio.TimeoutError:
        more = None
    print(json.dumps({"received": received, "more": more}), flush=True)
    await layer.flush()

asyncio.run(main())
"#;

#[tokio::test]
async fn messages_past_a_channels_capacity_are_counted_not_silently_dropped() {
    let Some(url) = test_redis_url().await else { return };
    let Some(python) = python() else { return };
    let prefix = unique_prefix("core-capacity");
    let core = RedisCoreLayer::builder([url.clone()]).prefix(&prefix).capacity(3).build().expect("layer");
    let layer = Layer::new(core.clone());
    let mut reader = Python::start(&python, SLOW_READER, &[json!([url]).to_string(), prefix.clone(), "3".to_owned()]);
    let channel = reader.line().await["channel"].as_str().expect("channel").to_owned();

    // Five events to the group while its only member reads nothing: three fit. A group send
    // succeeds whatever its members' capacity, as in channels_redis, but the two dropped here
    // are counted (and logged).
    for job in 0..5 {
        layer.broadcast_event(["queue"], &JobDone { payload: job }).await.expect("group send");
    }
    assert_eq!(core.stats().over_capacity, 2, "{:?}", core.stats());
    // A direct send to the full channel is refused, as channels_redis raises ChannelFull.
    let full = layer.send_event(&channel, &JobDone { payload: 5 }).await;
    assert!(matches!(&full, Err(LayerError::ChannelFull(name)) if *name == channel), "{full:?}");
    assert_eq!(core.stats().over_capacity, 3);
    assert!(core.stats().to_prometheus().contains("chanx_redis_core_over_capacity_total 3"));

    // The reader gets the first three, in order, and nothing else was kept.
    let answer = reader.ask(json!(3)).await;
    let events: Vec<Value> = (0..3).map(job_done_event).collect();
    assert_eq!(answer, json!({"received": events, "more": null}));
    let status =
        tokio::time::timeout(Duration::from_secs(10), reader.child.wait()).await.expect("exits").expect("status");
    assert!(status.success(), "python exited with {status}");
}
