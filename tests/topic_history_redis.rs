//! Topic history kept in Redis (docs/topics.md, "History and recovery"): two layers on one Redis
//! stand for two processes. They number a topic's pushes in one sequence, a client recovers on
//! either the pushes published through the other, a flushed Redis starts a new epoch, and a push
//! during a Redis restart is an error the caller sees and a counted failure, never a silent loss.

use std::time::Duration;

use chanx::layer::{LayerError, RedisLayer};
use chanx::testing::WebsocketCommunicator;
use chanx::{Layer, Message, Router, Scope, Topic};
use chanx_workspace::{OwnRedis, free_port, test_redis_url, unique_prefix};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "said")]
struct Said {
    payload: u64,
}

/// A room that keeps its last 100 pushes for 5 minutes.
#[derive(Default)]
struct RoomTopic;

#[chanx::topic(pattern = "room:{name}", history(size = 100, ttl = "5m"))]
impl RoomTopic {
    #[event_handler]
    async fn said(&self, event: Said) -> Said {
        event
    }
}

struct Hub;

#[chanx::consumer(topics = [RoomTopic])]
impl Hub {}

/// One "process": a router on its own Redis layer with `prefix`.
fn process(url: &str, prefix: &str) -> (Router, RedisLayer) {
    let layer = RedisLayer::builder([url]).prefix(prefix).build().expect("layer");
    (Router::new().route("/ws/hub/", |_: &Scope| Hub).with_layer(Layer::new(layer.clone())), layer)
}

async fn connect(router: &Router) -> WebsocketCommunicator {
    WebsocketCommunicator::builder(router, "/ws/hub/")
        .send_completion(false)
        .timeout(Duration::from_secs(10))
        .connect()
        .await
}

async fn said(layer: &Layer, room: &str, n: u64) -> Result<(), LayerError> {
    RoomTopic::broadcast(layer, room, &Said { payload: n }, None).await
}

/// The `(seq, payload)` of the next push.
async fn next_push(comm: &mut WebsocketCommunicator) -> (u64, u64) {
    let frame: Value = comm.receive_json().await;
    assert_eq!(frame["action"], "said", "{frame}");
    let seq = frame["seq"].as_u64().unwrap_or_else(|| panic!("a push without a seq: {frame}"));
    (seq, frame["payload"].as_u64().unwrap_or_default())
}

async fn redis_conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url).expect("client").get_multiplexed_async_connection().await.expect("connected")
}

#[tokio::test]
async fn two_processes_share_one_numbering_and_a_client_recovers_on_the_other() {
    let Some(url) = test_redis_url().await else { return };
    let prefix = unique_prefix("history.shared");
    let ((one, _), (two, _)) = (process(&url, &prefix), process(&url, &prefix));
    let mut ada = connect(&one).await;
    let mut bob = connect(&two).await;
    let first = ada.subscribe_since("room:lobby", 0, "").await;
    assert_eq!((first.recovered, first.seq), (false, 0));
    let seen_by_bob = bob.subscribe_since("room:lobby", 0, "").await;
    assert_eq!(seen_by_bob.epoch, first.epoch, "one epoch for the topic, whichever process is asked");

    // Pushed through both processes in turn: one sequence, and every subscriber gets each push.
    for n in 1..=6 {
        let layer = if n % 2 == 0 { two.layer() } else { one.layer() };
        said(layer, "room:lobby", n).await.expect("published");
        assert_eq!(next_push(&mut ada).await, (n, n));
        assert_eq!(next_push(&mut bob).await, (n, n));
    }

    // Ada's socket drops; pushes 7 to 10 go out through both processes meanwhile. She comes
    // back on the other process and gets each once, in order, then live pushes.
    ada.disconnect().await;
    for n in 7..=10 {
        let layer = if n % 2 == 0 { two.layer() } else { one.layer() };
        said(layer, "room:lobby", n).await.expect("published");
    }
    let mut ada = connect(&two).await;
    let answer = ada.subscribe_since("room:lobby", 6, &first.epoch).await;
    assert!(answer.recovered && answer.seq == 10 && answer.epoch == first.epoch, "{answer:?}");
    for n in 7..=10 {
        assert_eq!(next_push(&mut ada).await, (n, n));
    }
    said(one.layer(), "room:lobby", 11).await.expect("published");
    assert_eq!(next_push(&mut ada).await, (11, 11));
    assert!(ada.receive_nothing().await, "no push twice");
    let metrics = two.metrics().snapshot();
    assert_eq!((metrics.topic_recoveries, metrics.topic_recoveries_failed), (1, 1));
    ada.disconnect().await;
    bob.disconnect().await;
}

#[tokio::test]
async fn a_history_push_is_published_in_the_bytes_of_any_topic_push_at_every_msgpack_width() {
    use futures_util::StreamExt;
    let Some(url) = test_redis_url().await else { return };
    let prefix = unique_prefix("history.widths");
    let ((one, _), (two, _)) = (process(&url, &prefix), process(&url, &prefix));
    let mut bob = connect(&two).await;
    assert_eq!(bob.subscribe_since("room:w", 0, "").await.seq, 0);
    // A raw subscriber on the group's channel sees the bytes each publish puts on the wire.
    let group = RoomTopic::group_name("room:w");
    let mut raw = redis::Client::open(url.as_str()).expect("client").get_async_pubsub().await.expect("pubsub");
    raw.subscribe(format!("{prefix}__group__{group}")).await.expect("subscribed");
    let mut wire = raw.into_on_message();
    let mut conn = redis_conn(&url).await;
    said(one.layer(), "room:w", 0).await.expect("published");
    assert_eq!(next_push(&mut bob).await.0, 1);
    let _ = wire.next().await;
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{prefix}*:seq")).query_async(&mut conn).await.expect("keys");
    let [seq_key] = keys.as_slice() else { panic!("one seq key: {keys:?}") };
    // Around each width of a msgpack integer, the script's bytes are the layer's own.
    for start in [126u64, 254, 65_534, 4_294_967_294] {
        let () = redis::cmd("SET").arg(seq_key).arg(start).query_async(&mut conn).await.expect("set");
        for n in start + 1..=start + 2 {
            said(one.layer(), "room:w", n).await.expect("published");
            assert_eq!(next_push(&mut bob).await, (n, n));
            let scripted: Vec<u8> = wire.next().await.expect("a message").get_payload().expect("bytes");
            let event_data = serde_json::json!({"action": "said", "payload": n});
            let seq = Some(i64::try_from(n).expect("an i64"));
            let body = chanx::layer::LayerBody::TopicEvent { topic: "room:w".into(), seq, event_data };
            one.layer().group_send(&group, chanx::layer::LayerMessage::new(body)).await.expect("sent");
            let layers: Vec<u8> = wire.next().await.expect("a message").get_payload().expect("bytes");
            assert_eq!(scripted, layers, "seq {n}");
        }
    }
    // Bob's subscription recovered, so the layer's copies (seqs it already has) are dropped.
    assert!(bob.receive_nothing().await);
    bob.disconnect().await;
}

#[tokio::test]
async fn a_flushed_history_is_a_new_epoch_and_not_recovered() {
    let Some(url) = test_redis_url().await else { return };
    let prefix = unique_prefix("history.flush");
    let (one, _) = process(&url, &prefix);
    let mut ada = connect(&one).await;
    let first = ada.subscribe_since("room:f", 0, "").await;
    for n in 1..=3 {
        said(one.layer(), "room:f", n).await.expect("published");
        assert_eq!(next_push(&mut ada).await.0, n);
    }
    ada.reconnect().await;
    said(one.layer(), "room:f", 4).await.expect("published");
    // Redis loses the topic's keys (as FLUSHALL or a restart without persistence would).
    let mut conn = redis_conn(&url).await;
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.expect("keys");
    assert_eq!(keys.len(), 3, "seq, log and epoch: {keys:?}");
    let () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.expect("deleted");

    let answer = ada.subscribe_since("room:f", 3, &first.epoch).await;
    assert!(!answer.recovered, "{answer:?}");
    assert_ne!(answer.epoch, first.epoch);
    assert_eq!(answer.seq, 0, "numbering starts again in the new epoch");
    assert!(ada.receive_nothing().await, "nothing replayed when not recovered");
    said(one.layer(), "room:f", 5).await.expect("published");
    assert_eq!(next_push(&mut ada).await, (1, 5));
    assert_eq!(one.metrics().snapshot().topic_recoveries_failed, 2);

    // A seq the topic never reached, or garbage: not recovered, and the topic's real state.
    for since in [serde_json::json!({"seq": u64::MAX, "epoch": answer.epoch}), serde_json::json!({"seq": -1})] {
        ada.reconnect().await;
        let frame = serde_json::json!({"version": 1, "topic": "room:f", "ref": "9", "action": "subscribe", "payload": {"since": since}});
        ada.send_json(&frame).await;
        let reply = ada.receive_json().await;
        assert_eq!(
            reply["payload"],
            serde_json::json!({"recovered": false, "seq": 1, "epoch": answer.epoch}),
            "{reply}"
        );
        assert!(ada.receive_nothing().await);
    }
    ada.disconnect().await;
}

#[tokio::test]
async fn a_recovering_subscription_follows_its_topic_into_a_new_epoch() {
    let Some(url) = test_redis_url().await else { return };
    let prefix = unique_prefix("history.live-epoch");
    let (one, _) = process(&url, &prefix);
    let mut ada = connect(&one).await;
    let first = ada.subscribe_since("room:e", 0, "").await;
    for n in 1..=3 {
        said(one.layer(), "room:e", n).await.expect("published");
        assert_eq!(next_push(&mut ada).await, (n, n));
    }
    // Redis loses the topic's keys while Ada stays subscribed (a flush, or the topic idle for
    // its ttl): the next pushes are seq 1 and 2 of a new epoch, and reach her.
    let mut conn = redis_conn(&url).await;
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.expect("keys");
    let () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.expect("deleted");
    for n in 1..=2 {
        said(one.layer(), "room:e", 10 + n).await.expect("published");
        let frame = ada.try_receive_json(Duration::from_secs(5)).await;
        let frame = frame.unwrap_or_else(|err| panic!("push {n} of the new epoch was dropped: {err}"));
        assert_eq!((&frame["seq"], &frame["payload"]), (&serde_json::json!(n), &serde_json::json!(10 + n)));
    }
    ada.reconnect().await;
    let again = ada.subscribe_since("room:e", 2, &first.epoch).await;
    assert!(!again.recovered && again.epoch != first.epoch, "{again:?}");
    ada.disconnect().await;
}

/// Redis loses a topic's numbering but not its epoch (an eviction under `maxmemory` takes one
/// key, not all three): the topic starts a new epoch, rather than numbering from 1 under the old
/// one (where a client's old `seq` would "recover" new pushes) or failing every push until the
/// numbering passes the log's last entry.
#[tokio::test]
async fn a_lost_numbering_under_a_kept_epoch_is_a_new_epoch() {
    let Some(url) = test_redis_url().await else { return };
    for lost in [&["seq"][..], &["seq", "log"]] {
        let prefix = unique_prefix("history.evicted");
        let (one, _) = process(&url, &prefix);
        let mut ada = connect(&one).await;
        let first = ada.subscribe_since("room:v", 0, "").await;
        for n in 1..=3 {
            said(one.layer(), "room:v", n).await.expect("published");
            assert_eq!(next_push(&mut ada).await, (n, n));
        }
        let mut conn = redis_conn(&url).await;
        for key in lost {
            let keys: Vec<String> =
                redis::cmd("KEYS").arg(format!("{prefix}*:{key}")).query_async(&mut conn).await.expect("keys");
            let () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.expect("deleted");
        }
        // Pushes go on, each reaching the subscriber that stayed.
        for n in 4..=8 {
            said(one.layer(), "room:v", n).await.unwrap_or_else(|err| panic!("{lost:?} lost: push {n} failed: {err}"));
            let frame = ada.try_receive_json(Duration::from_secs(5)).await;
            let frame = frame.unwrap_or_else(|err| panic!("{lost:?} lost: push {n} did not arrive: {err}"));
            assert_eq!(frame["payload"], n, "{frame}");
        }
        // A client that stopped at seq 3 of the old numbering is told to reload.
        ada.reconnect().await;
        let stale = ada.subscribe_since("room:v", 3, &first.epoch).await;
        assert!(!stale.recovered && stale.epoch != first.epoch, "{lost:?} lost: {stale:?}");
        ada.disconnect().await;
    }
}

#[tokio::test]
async fn a_push_during_a_redis_restart_is_an_error_and_counted_and_recovery_says_so() {
    let port = free_port();
    let Some(redis) = OwnRedis::start(port) else { return };
    redis.wait_ready().await;
    let (one, layer) = process(&redis.url(), &unique_prefix("history.restart"));
    let mut ada = connect(&one).await;
    let first = ada.subscribe_since("room:r", 0, "").await;
    said(one.layer(), "room:r", 1).await.expect("published before the outage");
    assert_eq!(next_push(&mut ada).await, (1, 1));

    redis.kill();
    let during = said(one.layer(), "room:r", 2).await;
    assert!(matches!(during, Err(LayerError::Backend(_))), "{during:?}");
    assert!(layer.stats().publish_failed >= 1, "{:?}", layer.stats());

    // Redis comes back without its data: the client is told to reload, nothing is replayed.
    let redis = OwnRedis::start(port).expect("restarted");
    redis.wait_ready().await;
    let resubscribed = tokio::time::timeout(Duration::from_secs(15), async {
        while layer.stats().reconnects == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    resubscribed.await.expect("the layer's subscriber reconnected");
    ada.reconnect().await;
    let answer = ada.subscribe_since("room:r", 1, &first.epoch).await;
    assert!(!answer.recovered && answer.epoch != first.epoch, "{answer:?}");
    // Once the subscriber has resubscribed, pushes flow in the new epoch from seq 1.
    let resumed = tokio::time::timeout(Duration::from_secs(15), async {
        let mut n = 3;
        loop {
            said(one.layer(), "room:r", n).await.expect("published after the restart");
            if let Ok(frame) = tokio::time::timeout(Duration::from_millis(300), ada.receive_json()).await {
                return (n, frame);
            }
            n += 1;
        }
    });
    let (n, frame) = resumed.await.expect("pushes resumed after the restart");
    assert_eq!(frame["payload"], n);
    assert_eq!(frame["seq"], n - 2, "pushes 3..{n} are seq 1..");
    ada.disconnect().await;
    drop(redis);
}

/// A room that keeps only 5 pushes, for 300 ms.
#[derive(Default)]
struct TinyTopic;

#[chanx::topic(pattern = "tiny:{name}", history(size = 5, ttl = "300ms"))]
impl TinyTopic {
    #[event_handler]
    async fn said(&self, event: Said) -> Said {
        event
    }
}

struct TinyHub;

#[chanx::consumer(topics = [TinyTopic])]
impl TinyHub {}

#[tokio::test]
async fn more_than_size_pushes_ago_or_after_ttl_is_not_recovered() {
    let Some(url) = test_redis_url().await else { return };
    let prefix = unique_prefix("history.bounds");
    let layer = Layer::new(RedisLayer::builder([url.as_str()]).prefix(&prefix).build().expect("layer"));
    let router = Router::new().route("/ws/hub/", |_: &Scope| TinyHub).with_layer(layer);
    let mut ada = connect(&router).await;
    let first = ada.subscribe_since("tiny:a", 0, "").await;
    ada.reconnect().await;
    for n in 1..=12 {
        TinyTopic::broadcast(router.layer(), "tiny:a", &Said { payload: n }, None).await.expect("published");
    }
    // The stream's cap is approximate, but no more than `size` pushes are ever replayed.
    let gone = ada.subscribe_since("tiny:a", 6, &first.epoch).await;
    assert!(!gone.recovered && gone.seq == 12 && gone.epoch == first.epoch, "{gone:?}");
    assert!(ada.receive_nothing().await);
    ada.reconnect().await;
    let kept = ada.subscribe_since("tiny:a", 7, &first.epoch).await;
    assert!(kept.recovered, "{kept:?}");
    for n in 8..=12 {
        assert_eq!(next_push(&mut ada).await, (n, n));
    }
    ada.reconnect().await;
    // Idle for the ttl: Redis expires the topic's keys, and the epoch with them.
    let mut conn = redis_conn(&url).await;
    let expired = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let keys: Vec<String> =
                redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.expect("keys");
            if keys.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    expired.await.expect("the history expired");
    let after = ada.subscribe_since("tiny:a", 12, &first.epoch).await;
    assert!(!after.recovered && after.epoch != first.epoch && after.seq == 0, "{after:?}");
    ada.disconnect().await;
}

#[tokio::test]
async fn recovering_readers_do_not_keep_an_epoch_alive_past_its_pushes() {
    let Some(url) = test_redis_url().await else { return };
    let prefix = unique_prefix("history.readers");
    let layer = Layer::new(RedisLayer::builder([url.as_str()]).prefix(&prefix).build().expect("layer"));
    let router = Router::new().route("/ws/hub/", |_: &Scope| TinyHub).with_layer(layer);
    let mut ada = connect(&router).await;
    let first = ada.subscribe_since("tiny:a", 0, "").await;
    for n in 1..=3 {
        TinyTopic::broadcast(router.layer(), "tiny:a", &Said { payload: n }, None).await.expect("published");
    }
    // Ada keeps coming back while nobody pushes, until Redis has expired the topic's history:
    // her reads alone do not keep its epoch (a read that finds none makes a new one, seq 0).
    let expired = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            ada.reconnect().await;
            let answer = ada.subscribe_since("tiny:a", 0, &first.epoch).await;
            if answer.epoch != first.epoch {
                assert_eq!(answer.seq, 0, "{answer:?}");
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    expired.await.expect("the numbering expired");
    // Numbering starts again: under a new epoch, so seq 3 of the old one recovers nothing.
    for n in 1..=5 {
        TinyTopic::broadcast(router.layer(), "tiny:a", &Said { payload: n }, None).await.expect("published");
    }
    ada.reconnect().await;
    let stale = ada.subscribe_since("tiny:a", 3, &first.epoch).await;
    assert!(!stale.recovered && stale.epoch != first.epoch, "{stale:?}");
    ada.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_clients_flapping_between_two_processes_receive_every_push_once_and_in_order() {
    // 10 a second for 30 seconds, as the issue asks. Redis needs the real clock, so this test
    // takes about 35 seconds; it checks an outcome (every seq once, in order), never a duration.
    const PUSHES: u64 = 300;
    let Some(url) = test_redis_url().await else { return };
    let prefix = unique_prefix("history.flapping");
    let routers = [process(&url, &prefix).0, process(&url, &prefix).0];
    let mut clients = Vec::new();
    for client in 0..20u64 {
        let routers = routers.clone();
        let mut at = usize::from(client % 2 == 1);
        let mut comm = connect(&routers[at]).await;
        let first = comm.subscribe_since("room:flap", 0, "").await;
        assert!(!first.recovered && first.seq == 0, "{first:?}");
        clients.push(tokio::spawn(async move {
            let (mut received, mut last, mut recoveries) = (Vec::new(), 0, 0);
            loop {
                // Connected for 2 to 4 seconds, then dropped for about a second.
                let until = tokio::time::Instant::now() + Duration::from_millis(2000 + 500 * (client % 5));
                while let Ok(frame) = tokio::time::timeout_at(until, comm.receive_json()).await {
                    let seq = frame["seq"].as_u64().unwrap_or_else(|| panic!("a push without a seq: {frame}"));
                    assert_eq!(seq, last + 1, "client {client}: a gap or a duplicate after {last}: {frame}");
                    last = seq;
                    received.push(seq);
                    if last == PUSHES {
                        comm.disconnect().await;
                        return (received, recoveries);
                    }
                }
                comm.disconnect().await;
                tokio::time::sleep(Duration::from_millis(1000)).await;
                // Back on the other process.
                at = 1 - at;
                comm = connect(&routers[at]).await;
                let answer = comm.subscribe_since("room:flap", last, &first.epoch).await;
                assert!(answer.recovered, "client {client} could not recover from {last}: {answer:?}");
                recoveries += 1;
            }
        }));
    }
    for n in 1..=PUSHES {
        said(routers[usize::from(n % 2 == 0)].layer(), "room:flap", n).await.expect("published");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for client in clients {
        let (received, recoveries) = client.await.expect("a client");
        assert_eq!(received, (1..=PUSHES).collect::<Vec<_>>());
        assert!(recoveries >= 4, "each client dropped several times, not {recoveries}");
    }
}

/// A room without history, to compare with.
#[derive(Default)]
struct PlainTopic;

#[chanx::topic(pattern = "plain:{name}")]
impl PlainTopic {
    #[event_handler]
    async fn said(&self, event: Said) -> Said {
        event
    }
}

struct BothHub;

#[chanx::consumer(topics = [RoomTopic, PlainTopic])]
impl BothHub {}

/// Not a check: prints pushes a second, published one after another through one process and
/// received by a subscriber on another, with and without history, in the same run.
/// `cargo test --release --test topic_history_redis measure -- --ignored --nocapture`
#[tokio::test]
#[ignore = "a measurement, not a check"]
async fn measure_the_cost_of_history_on_redis_pushes() {
    const PUSHES: u64 = 5000;
    let Some(url) = test_redis_url().await else { return };
    let prefix = unique_prefix("history.measure");
    let router = |url: &str| {
        let layer = Layer::new(RedisLayer::builder([url]).prefix(&prefix).build().expect("layer"));
        Router::new().route("/ws/hub/", |_: &Scope| BothHub).with_layer(layer)
    };
    let (one, two) = (router(&url), router(&url));
    let mut comm = connect(&two).await;
    comm.subscribe("plain:m").await;
    comm.subscribe_since("room:m", 0, "").await;
    for history in [false, true, false, true] {
        let started = std::time::Instant::now();
        let receiver = tokio::spawn(async move {
            for _ in 0..PUSHES {
                comm.receive_json().await;
            }
            comm
        });
        for n in 1..=PUSHES {
            let event = Said { payload: n };
            match history {
                true => RoomTopic::broadcast(one.layer(), "room:m", &event, None).await,
                false => PlainTopic::broadcast(one.layer(), "plain:m", &event, Some(1)).await,
            }
            .expect("published");
        }
        comm = receiver.await.expect("the receiver");
        let rate = PUSHES as f64 / started.elapsed().as_secs_f64();
        println!(
            "history {history}: {rate:.0} pushes/s ({PUSHES} sequential broadcasts, one subscriber on another process)"
        );
    }
    comm.disconnect().await;
}
