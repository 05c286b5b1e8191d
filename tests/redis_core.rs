//! The core Redis layer ([`RedisCoreLayer`], channels_redis's `RedisChannelLayer` protocol)
//! between chanx-rs processes: two servers share one Redis (each test with its own key prefix),
//! a connection that leaves is gone from its groups in Redis, and after a Redis restart (its own
//! `redis-server`, killed mid-run) delivery and group memberships come back by themselves.

use std::time::Duration;

use chanx::layer::{LayerError, RedisCoreLayer};
use chanx::{Layer, Router, Scope};
use chanx_workspace::messages::JobDone;
use chanx_workspace::{Client, Member, OwnRedis, free_port, spawn_server, test_redis_url, unique_prefix};
use serde_json::json;

/// A server on `layer`, and a client of it in `groups`, ready (its groups are joined), with its
/// channel name.
async fn member(layer: &RedisCoreLayer, groups: &str) -> (Client, String) {
    let router = Router::new().route("/ws/member/", |_: &Scope| Member).with_layer(Layer::new(layer.clone()));
    let addr = spawn_server(router).await;
    let mut client = Client::connect(addr, &format!("/ws/member/?groups={groups}")).await;
    client.send_json(&json!({"action": "whoami"})).await;
    let channel = client.receive_json().await["payload"].as_str().expect("channel name").to_owned();
    (client, channel)
}

async fn redis_connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url).expect("url").get_multiplexed_async_connection().await.expect("connected")
}

async fn group_size(connection: &mut redis::aio::MultiplexedConnection, key: &str) -> usize {
    redis::cmd("ZCARD").arg(key).query_async(connection).await.expect("ZCARD")
}

#[tokio::test]
async fn two_processes_share_a_group_and_a_connection_that_leaves_is_out_of_it() {
    let Some(url) = test_redis_url().await else { return };
    let prefix = unique_prefix("core");
    let build = || RedisCoreLayer::builder([url.clone()]).prefix(&prefix).build().expect("layer");
    let (one, two) = (build(), build());
    let (mut ada, _) = member(&one, "room").await;
    let (mut bob, bob_channel) = member(&two, "room").await;
    let (mut redis, group) = (redis_connection(&url).await, format!("{prefix}:group:room"));
    assert_eq!(group_size(&mut redis, &group).await, 2);

    // A broadcast from process one reaches both members.
    ada.send_json(&json!({"action": "say", "payload": "hello"})).await;
    assert_eq!(ada.receive_json().await, json!({"action": "say", "payload": "hello"}));
    assert_eq!(bob.receive_json().await, json!({"action": "say", "payload": "hello"}));

    // An event sent through process one's layer reaches bob's connection on process two.
    Layer::new(one.clone()).send_event(&bob_channel, &JobDone { payload: 7 }).await.expect("sent");
    assert_eq!(bob.receive_json().await, json!({"action": "job_status", "payload": "job 7 done"}));

    // Bob leaves: his channel is taken out of the group in Redis, and sends skip him.
    bob.close().await;
    let left = tokio::time::timeout(Duration::from_secs(5), async {
        while group_size(&mut redis, &group).await != 1 {
            tokio::task::yield_now().await;
        }
    });
    assert!(left.await.is_ok(), "bob's channel left the group in Redis");
    ada.send_json(&json!({"action": "say", "payload": "still here"})).await;
    assert_eq!(ada.receive_json().await["payload"], "still here");
    assert_eq!(two.stats().undeliverable, 0, "nothing was written for bob after he left");
    ada.close().await;
}

#[tokio::test]
async fn after_a_redis_restart_delivery_and_group_memberships_come_back() {
    let port = free_port();
    let Some(redis) = OwnRedis::start(port) else { return };
    redis.wait_ready().await;
    let layer = RedisCoreLayer::builder([redis.url()])
        .prefix(unique_prefix("core-fault"))
        .membership_refresh(Duration::from_millis(200))
        .build()
        .expect("layer");
    let handle = Layer::new(layer.clone());
    let (mut client, _) = member(&layer, "alerts").await;
    handle.broadcast_event(["alerts"], &JobDone { payload: 1 }).await.expect("sent before the outage");
    assert_eq!(client.receive_json().await["payload"], "job 1 done");

    redis.kill();
    let during = handle.broadcast_event(["alerts"], &JobDone { payload: 2 }).await;
    assert!(matches!(during, Err(LayerError::Backend(_))), "{during:?}");
    assert!(layer.stats().send_failed >= 1);

    // Redis comes back empty (no persistence): the group is gone from it, and nothing waits.
    let redis = OwnRedis::start(port).expect("restarted");
    redis.wait_ready().await;
    // The receiver reconnects, and the membership refresh writes the group again.
    let resumed = tokio::time::timeout(Duration::from_secs(15), async {
        let mut n = 3;
        loop {
            let _ = handle.broadcast_event(["alerts"], &JobDone { payload: n }).await;
            if let Ok(frame) = tokio::time::timeout(Duration::from_millis(300), client.receive_json()).await {
                return (n, frame);
            }
            n += 1;
        }
    });
    let (n, frame) = resumed.await.expect("delivery resumed after the restart");
    // One of the events sent since the restart (an earlier one may have waited in Redis).
    let sent: Vec<_> = (3..=n).map(|n| json!({"action": "job_status", "payload": format!("job {n} done")})).collect();
    assert!(sent.contains(&frame), "{frame}");
    assert!(layer.stats().reconnects >= 1, "{:?}", layer.stats());
    client.close().await;
    drop(redis);
}
