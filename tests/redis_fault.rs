//! The Redis layer through a Redis restart: this test runs its own `redis-server` on a free port,
//! kills it mid-run and starts it again. Sends during the outage fail and are counted; delivery
//! resumes by itself once Redis is back.

use std::time::Duration;

use chanx::layer::{LayerError, RedisLayer};
use chanx::messages::{Ping, Pong};
use chanx::{Context, Layer, Message, Router, Scope};
use chanx_workspace::{Client, OwnRedis, free_port, spawn_server, unique_prefix};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
#[message(action = "alert")]
struct Alert {
    payload: u32,
}

/// In group `alerts`; passes alerts through.
struct Watcher;

#[chanx::consumer(groups = ["alerts"], passthrough = [Alert])]
impl Watcher {
    #[ws_handler]
    async fn ping(&self, _ctx: &Context, _msg: Ping) -> Pong {
        Pong {}
    }
}

#[tokio::test]
async fn delivery_resumes_after_a_redis_restart_and_the_loss_is_counted() {
    let port = free_port();
    let Some(redis) = OwnRedis::start(port) else { return };
    redis.wait_ready().await;
    let layer = RedisLayer::builder([format!("redis://127.0.0.1:{port}")])
        .prefix(unique_prefix("fault"))
        .build()
        .expect("layer");
    let handle = Layer::new(layer.clone());
    let addr = spawn_server(Router::new().route("/ws/watch/", |_: &Scope| Watcher).with_layer(handle.clone())).await;
    let mut client = Client::connect(addr, "/ws/watch/").await;
    client.send_json(&json!({"action": "ping"})).await;
    client.receive_json().await;

    handle.broadcast_event(["alerts"], &Alert { payload: 1 }).await.expect("sent before the outage");
    assert_eq!(client.receive_json().await, json!({"action": "alert", "payload": 1}));

    redis.kill();
    let during = handle.broadcast_event(["alerts"], &Alert { payload: 2 }).await;
    assert!(matches!(during, Err(LayerError::Backend(_))), "{during:?}");
    assert!(layer.stats().publish_failed >= 1);

    let redis = OwnRedis::start(port).expect("restarted");
    redis.wait_ready().await;
    // The subscriber reconnects with backoff, then resubscribes: alerts flow again.
    let resumed = tokio::time::timeout(Duration::from_secs(15), async {
        let mut n = 3;
        loop {
            let _ = handle.broadcast_event(["alerts"], &Alert { payload: n }).await;
            if let Ok(frame) = tokio::time::timeout(Duration::from_millis(300), client.receive_json()).await {
                return (n, frame);
            }
            n += 1;
        }
    });
    let (n, frame) = resumed.await.expect("delivery resumed after the restart");
    assert_eq!(frame, json!({"action": "alert", "payload": n}));
    assert!(layer.stats().reconnects >= 1, "{:?}", layer.stats());
    client.close().await;
    drop(redis);
}
