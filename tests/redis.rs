//! The Redis channel layer across processes: two servers on different ports share one Redis (each
//! test with its own key prefix), and clients on each reach the other's.

use std::time::Duration;

use chanx::layer::{LayerError, RedisLayer};
use chanx::{Layer, Router, Scope};
use chanx_workspace::messages::JobDone;
use chanx_workspace::{Client, Member, spawn_server, test_redis_url, unique_prefix};
use serde_json::json;

struct Instance {
    layer: RedisLayer,
    addr: std::net::SocketAddr,
}

async fn instance(url: &str, prefix: &str) -> Instance {
    let layer = RedisLayer::builder([url]).prefix(prefix).build().expect("layer");
    let router = Router::new().route("/ws/member/", |_: &Scope| Member).with_layer(Layer::new(layer.clone()));
    Instance { layer, addr: spawn_server(router).await }
}

/// A client in `room`, ready (it answered a frame, so its groups are joined), and its channel.
async fn join(instance: &Instance, room: &str) -> (Client, String) {
    let mut client = Client::connect(instance.addr, &format!("/ws/member/?groups=room.{room}")).await;
    client.send_json(&json!({"action": "whoami"})).await;
    let channel = client.receive_json().await["payload"].as_str().expect("channel name").to_owned();
    (client, channel)
}

#[tokio::test]
async fn broadcasts_and_events_cross_instances_and_groups_stay_apart() {
    let Some(url) = test_redis_url().await else { return };
    let prefix = unique_prefix("crossing");
    let (one, two) = (instance(&url, &prefix).await, instance(&url, &prefix).await);
    let (mut ada, _) = join(&one, "1").await;
    let (mut bob, bob_channel) = join(&two, "1").await;
    let (mut eve, _) = join(&two, "2").await;

    // A broadcast from instance one reaches both members, and nobody in room 2.
    ada.send_json(&json!({"action": "say", "payload": "hello"})).await;
    assert_eq!(ada.receive_json().await, json!({"action": "say", "payload": "hello"}));
    assert_eq!(bob.receive_json().await, json!({"action": "say", "payload": "hello"}));

    // An event sent through instance one's layer reaches bob's connection on instance two.
    Layer::new(one.layer.clone()).send_event(&bob_channel, &JobDone { payload: 7 }).await.expect("sent");
    assert_eq!(bob.receive_json().await, json!({"action": "job_status", "payload": "job 7 done"}));

    eve.send_json(&json!({"action": "say", "payload": "room 2 only"})).await;
    assert_eq!(eve.receive_json().await["payload"], "room 2 only");
    ada.send_json(&json!({"action": "say", "payload": "again"})).await;
    assert_eq!(ada.receive_json().await["payload"], "again", "room 2's message did not reach room 1");
    assert_eq!(bob.receive_json().await["payload"], "again");

    for client in [ada, bob, eve] {
        client.close().await;
    }
}

#[tokio::test]
async fn a_connection_that_ends_leaves_its_groups_and_its_channel() {
    let Some(url) = test_redis_url().await else { return };
    let prefix = unique_prefix("leaving");
    let (one, two) = (instance(&url, &prefix).await, instance(&url, &prefix).await);
    let (bob, bob_channel) = join(&two, "1").await;
    assert_eq!(two.layer.local_group_size("room.1"), 1);
    bob.close().await;
    let left = tokio::time::timeout(Duration::from_secs(5), async {
        while two.layer.local_group_size("room.1") != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    assert!(left.await.is_ok(), "bob is still in room.1");
    // Redis confirms nobody holds the channel any more: the sender is told.
    let sent = Layer::new(one.layer.clone()).send_event(&bob_channel, &JobDone { payload: 1 }).await;
    let unsubscribed = tokio::time::timeout(Duration::from_secs(5), async {
        let mut sent = sent;
        while sent.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            sent = Layer::new(one.layer.clone()).send_event(&bob_channel, &JobDone { payload: 1 }).await;
        }
        sent
    });
    let result = unsubscribed.await.expect("the channel is unsubscribed in time");
    assert!(matches!(result, Err(LayerError::ChannelNotFound(_))), "{result:?}");
}

#[tokio::test]
async fn sending_while_redis_is_unreachable_is_an_error_the_caller_sees() {
    // Nothing listens on port 1.
    let layer = RedisLayer::new("redis://127.0.0.1:1").expect("a well-formed URL");
    let handle = Layer::new(layer.clone());
    let sent = handle.broadcast_event(["room.1"], &JobDone { payload: 1 }).await;
    assert!(matches!(sent, Err(LayerError::Backend(_))), "{sent:?}");
    assert_eq!(layer.stats().publish_failed, 1);
    // A connection cannot even open its channel; the server closes it with 1011.
    let addr = spawn_server(Router::new().route("/ws/member/", |_: &Scope| Member).with_layer(handle)).await;
    let mut client = Client::connect(addr, "/ws/member/?groups=room.1").await;
    assert_eq!(client.close_code().await, Some(1011));
}

#[tokio::test]
async fn foreign_messages_on_redis_are_counted_dropped_and_delivery_goes_on() {
    let Some(url) = test_redis_url().await else { return };
    let prefix = unique_prefix("foreign");
    let one = instance(&url, &prefix).await;
    let (mut ada, _) = join(&one, "1").await;
    // Another application publishes on the group's channel: bytes that are not msgpack, and a
    // msgpack map of a type chanx does not know ({"type": "unknown"}).
    let mut conn =
        redis::Client::open(url.as_str()).expect("url").get_multiplexed_async_connection().await.expect("conn");
    let not_msgpack = b"\xc1 not msgpack".to_vec();
    let unknown_type = [&[0x81, 0xa4][..], b"type", &[0xa7], b"unknown"].concat();
    for payload in [not_msgpack, unknown_type] {
        let receivers: usize = redis::cmd("PUBLISH")
            .arg(format!("{prefix}__group__room.1"))
            .arg(payload)
            .query_async(&mut conn)
            .await
            .expect("published");
        assert_eq!(receivers, 1);
    }
    let counted = tokio::time::timeout(Duration::from_secs(5), async {
        while one.layer.stats().undeliverable < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    assert!(counted.await.is_ok(), "{:?}", one.layer.stats());
    // Nothing reached the client, and the group still works.
    ada.send_json(&json!({"action": "say", "payload": "still here"})).await;
    assert_eq!(ada.receive_json().await, json!({"action": "say", "payload": "still here"}));
    ada.close().await;
}

#[tokio::test]
async fn close_group_closes_the_members_on_every_instance_and_no_one_else() {
    let Some(url) = test_redis_url().await else { return };
    let prefix = unique_prefix("closing");
    let (one, two) = (instance(&url, &prefix).await, instance(&url, &prefix).await);
    let (mut ada, _) = join(&one, "1").await;
    let (mut bob, _) = join(&two, "1").await;
    let (mut eve, _) = join(&two, "2").await;

    // Sent through instance one's layer, as an HTTP handler revoking access would.
    Layer::new(one.layer.clone()).close_group("room.1", 4403, "access revoked").await.expect("sent");
    assert_eq!(ada.close_frame().await, Some((4403, "access revoked".to_owned())));
    assert_eq!(bob.close_frame().await, Some((4403, "access revoked".to_owned())));

    eve.send_json(&json!({"action": "say", "payload": "still here"})).await;
    assert_eq!(eve.receive_json().await["payload"], "still here");
    eve.close().await;
}

/// A worker whose event handler takes an hour: its inbox fills up behind it.
struct SlowWorker;

#[chanx::consumer(groups = ["jobs"])]
impl SlowWorker {
    #[ws_handler]
    async fn ping(&self, _msg: chanx::messages::Ping) -> chanx::messages::Pong {
        chanx::messages::Pong {}
    }

    #[event_handler]
    async fn job_done(&self, event: JobDone) -> chanx_workspace::messages::JobStatus {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        chanx_workspace::messages::JobStatus { payload: format!("job {} done", event.payload) }
    }
}

#[tokio::test]
async fn a_connection_whose_inbox_overflows_with_messages_from_redis_is_closed_with_1013() {
    let Some(url) = test_redis_url().await else { return };
    let layer = RedisLayer::builder([url]).prefix(unique_prefix("overflow")).capacity(2).build().expect("layer");
    let settings = chanx::Settings::default().drain_timeout(Duration::from_millis(50));
    let router = Router::new()
        .route("/ws/worker/", |_: &Scope| SlowWorker)
        .with_layer(Layer::new(layer.clone()))
        .with_settings(settings);
    let metrics = router.metrics().clone();
    let addr = spawn_server(router).await;
    let mut worker = Client::connect(addr, "/ws/worker/").await;
    worker.send_json(&json!({"action": "ping"})).await;
    assert_eq!(worker.receive_json().await["action"], "pong");

    // One event runs, two wait, the fourth finds the inbox full.
    for job in 0..6 {
        Layer::new(layer.clone()).broadcast_event(["jobs"], &JobDone { payload: job }).await.expect("published");
    }
    assert_eq!(worker.close_code().await, Some(chanx::close_code::INBOX_OVERFLOW));
    assert!(layer.stats().undeliverable >= 1, "{:?}", layer.stats());
    assert_eq!(metrics.snapshot().inbox_overflow_closes, 1);
}

/// A room whose pushes are job reports.
#[derive(Default)]
struct RoomTopic;

#[chanx::topic(pattern = "room:{name}")]
impl RoomTopic {
    #[event_handler]
    async fn job_done(&self, event: JobDone) -> chanx_workspace::messages::JobStatus {
        chanx_workspace::messages::JobStatus { payload: format!("job {} done", event.payload) }
    }
}

struct Hub;

#[chanx::consumer(topics = [RoomTopic])]
impl Hub {}

#[tokio::test]
async fn topic_pushes_cross_instances_and_reach_only_subscribers() {
    use chanx::Topic;
    use chanx::testing::WebsocketCommunicator;
    let Some(url) = test_redis_url().await else { return };
    let prefix = unique_prefix("topics");
    let layer = || Layer::new(RedisLayer::builder([url.as_str()]).prefix(&prefix).build().expect("layer"));
    let one = Router::new().route("/ws/hub/", |_: &Scope| Hub).with_layer(layer());
    let two = Router::new().route("/ws/hub/", |_: &Scope| Hub).with_layer(layer());
    let mut ada = WebsocketCommunicator::connect(&one, "/ws/hub/").await;
    let mut bob = WebsocketCommunicator::connect(&two, "/ws/hub/").await;
    assert_eq!(ada.subscribe("room:1").await["action"], "subscribed");
    assert_eq!(bob.subscribe("room:2").await["action"], "subscribed");

    // Pushed through instance two's layer, to the subscribers of room:1 (on instance one).
    RoomTopic::broadcast(two.layer(), "room:1", &JobDone { payload: 7 }, Some(1)).await.expect("published");
    assert_eq!(
        ada.receive_json().await,
        json!({"action": "job_status", "payload": "job 7 done", "version": 1, "topic": "room:1", "seq": 1})
    );
    assert_eq!(ada.receive_json().await["action"], "event_complete");
    RoomTopic::broadcast(one.layer(), "room:2", &JobDone { payload: 8 }, Some(1)).await.expect("published");
    assert_eq!(bob.receive_topic_message::<chanx_workspace::messages::JobStatus>().await.topic, "room:2");
    assert!(ada.receive_nothing().await, "room:2's push did not reach room:1");
    ada.disconnect().await;
    bob.disconnect().await;
}
