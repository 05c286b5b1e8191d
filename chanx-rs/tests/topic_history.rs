//! History and recovery for topics on the in-memory layer (docs/topics.md, "History and
//! recovery"): server-assigned `seq`, recovery on subscribe with `since`, no gap and no duplicate
//! at the seam, expiry and epochs. Time is tokio's paused clock: the 30-second run takes none.

use std::time::Duration;

use chanx::testing::WebsocketCommunicator;
use chanx::{Message, Router, Scope, Topic};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep, timeout_at};

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "said")]
struct Said {
    payload: u64,
}

/// A room that keeps its last 1,000 pushes for 5 minutes.
#[derive(Default)]
struct RoomTopic;

#[chanx::topic(pattern = "room:{name}", history(size = 1000, ttl = "5m"))]
impl RoomTopic {
    /// Takes 20 ms a push, so that a replay of missed pushes lasts long enough for live ones to
    /// arrive during it: the seam must hold them back, or they would overtake the replay.
    #[event_handler]
    async fn said(&self, event: Said) -> Said {
        sleep(Duration::from_millis(20)).await;
        event
    }
}

/// A room whose pushes are kept for 5 seconds only.
#[derive(Default)]
struct ShortTopic;

#[chanx::topic(pattern = "short:{name}", history(size = 1000, ttl = "5s"))]
impl ShortTopic {
    #[event_handler]
    async fn said(&self, event: Said) -> Said {
        event
    }
}

/// A topic without history, as before.
#[derive(Default)]
struct PlainTopic;

#[chanx::topic(pattern = "plain:{name}")]
impl PlainTopic {
    #[event_handler]
    async fn said(&self, event: Said) -> Said {
        event
    }
}

/// What `HookedTopic`'s hooks ran, in order.
static HOOKS: std::sync::Mutex<Vec<&str>> = std::sync::Mutex::new(Vec::new());

/// A slow history topic whose hooks record that they ran (say, a "who is watching" table).
#[derive(Default)]
struct HookedTopic;

#[chanx::topic(pattern = "hooked:{name}", history(size = 1000, ttl = "5m"))]
impl Topic for HookedTopic {
    async fn on_subscribe(&self, _ctx: &chanx::Context) {
        HOOKS.lock().expect("hooks").push("on_subscribe");
    }

    async fn on_unsubscribe(&self, _ctx: &chanx::Context) {
        HOOKS.lock().expect("hooks").push("on_unsubscribe");
    }

    #[event_handler]
    async fn said(&self, event: Said) -> Said {
        sleep(Duration::from_millis(20)).await;
        event
    }
}

struct Hub;

#[chanx::consumer(topics = [RoomTopic, ShortTopic, PlainTopic, HookedTopic])]
impl Hub {}

fn router() -> Router {
    Router::new().route("/ws/hub/", |_: &Scope| Hub)
}

async fn connect(router: &Router) -> WebsocketCommunicator {
    WebsocketCommunicator::builder(router, "/ws/hub/")
        .send_completion(false)
        .timeout(Duration::from_secs(60))
        .connect()
        .await
}

fn seq_of(frame: &Value) -> u64 {
    frame["seq"].as_u64().unwrap_or_else(|| panic!("a push without a seq: {frame}"))
}

#[tokio::test(start_paused = true)]
async fn twenty_flapping_clients_receive_every_push_once_and_in_order() {
    const PUSHES: u64 = 300; // 10 a second for 30 seconds
    let router = router();
    let mut clients = Vec::new();
    for client in 0..20u64 {
        let mut comm = connect(&router).await;
        // Every client follows the room before the first push.
        let first = comm.subscribe_since("room:lobby", 0, "").await;
        assert!(!first.recovered && first.seq == 0, "a first subscribe has nothing to recover: {first:?}");
        clients.push(tokio::spawn(async move {
            let mut received = Vec::new();
            let mut last = first.seq;
            let mut recoveries = 0;
            loop {
                // Connected for 2 to 4 seconds, then dropped for about one.
                let until = Instant::now() + Duration::from_millis(2000 + 500 * (client % 5));
                while let Ok(frame) = timeout_at(until, comm.receive_json()).await {
                    assert_eq!(frame["action"], "said", "{frame}");
                    let seq = seq_of(&frame);
                    assert_eq!(seq, last + 1, "client {client}: a gap or a duplicate after {last}: {frame}");
                    last = seq;
                    received.push(seq);
                    if last == PUSHES {
                        comm.disconnect().await;
                        return (received, recoveries);
                    }
                }
                comm.reconnect().await;
                sleep(Duration::from_millis(1000)).await;
                let answer = comm.subscribe_since("room:lobby", last, &first.epoch).await;
                assert!(answer.recovered, "client {client} could not recover from {last}: {answer:?}");
                assert_eq!(answer.epoch, first.epoch);
                recoveries += 1;
            }
        }));
    }
    let layer = router.layer().clone();
    let publisher = tokio::spawn(async move {
        for n in 1..=PUSHES {
            RoomTopic::broadcast(&layer, "room:lobby", &Said { payload: n }, None).await.expect("published");
            sleep(Duration::from_millis(100)).await;
        }
    });
    publisher.await.expect("the publisher");
    for client in clients {
        let (received, recoveries) = client.await.expect("a client");
        assert_eq!(received, (1..=PUSHES).collect::<Vec<_>>());
        assert!(recoveries >= 5, "each client dropped several times, not {recoveries}");
    }
    let metrics = router.metrics().snapshot();
    assert!(metrics.topic_recoveries >= 100, "{metrics:?}");
    assert_eq!(metrics.topic_recoveries_failed, 20, "only the first subscribes");
}

#[tokio::test(start_paused = true)]
async fn missed_pushes_come_after_the_answer_then_live_ones() {
    let router = router();
    let mut comm = connect(&router).await;
    let first = comm.subscribe_since("room:a", 0, "").await;
    comm.reconnect().await;
    for n in 1..=3 {
        RoomTopic::broadcast(router.layer(), "room:a", &Said { payload: n }, Some(99)).await.expect("published");
    }
    comm.send_json(&json!({
        "version": 1, "topic": "room:a", "ref": "r", "action": "subscribe",
        "payload": {"since": {"seq": first.seq, "epoch": first.epoch}},
    }))
    .await;
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "subscribed", "payload": {"recovered": true, "seq": 3, "epoch": first.epoch},
               "version": 1, "topic": "room:a", "ref": "r"})
    );
    for n in 1..=3 {
        // The caller's seq (99) is ignored: the history numbers the pushes.
        assert_eq!(
            comm.receive_json().await,
            json!({"action": "said", "payload": n, "version": 1, "topic": "room:a", "seq": n})
        );
    }
    RoomTopic::broadcast(router.layer(), "room:a", &Said { payload: 4 }, None).await.expect("published");
    assert_eq!(seq_of(&comm.receive_json().await), 4);
    assert!(comm.receive_nothing().await);
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn a_plain_subscribe_is_unchanged_but_pushes_carry_the_server_seq() {
    let router = router();
    let mut comm = connect(&router).await;
    RoomTopic::broadcast(router.layer(), "room:b", &Said { payload: 1 }, None).await.expect("published");
    assert_eq!(
        comm.subscribe("room:b").await,
        json!({"action": "subscribed", "payload": null, "version": 1, "topic": "room:b", "ref": "1"})
    );
    RoomTopic::broadcast(router.layer(), "room:b", &Said { payload: 2 }, Some(7)).await.expect("published");
    assert_eq!(seq_of(&comm.receive_json().await), 2, "no replay, and the history's seq");
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn a_client_back_after_its_history_expired_is_told_to_reload() {
    let router = router();
    let mut comm = connect(&router).await;
    let first = comm.subscribe_since("short:x", 0, "").await;
    comm.reconnect().await;
    ShortTopic::broadcast(router.layer(), "short:x", &Said { payload: 1 }, None).await.expect("published");
    sleep(Duration::from_secs(6)).await;
    ShortTopic::broadcast(router.layer(), "short:x", &Said { payload: 2 }, None).await.expect("published");
    let answer = comm.subscribe_since("short:x", first.seq, &first.epoch).await;
    assert!(!answer.recovered, "push 1 expired: {answer:?}");
    assert_eq!((answer.seq, answer.epoch.as_str()), (2, first.epoch.as_str()));
    assert!(comm.receive_nothing().await, "nothing is replayed when not recovered");
    // Live pushes follow from the answer's seq.
    ShortTopic::broadcast(router.layer(), "short:x", &Said { payload: 3 }, None).await.expect("published");
    assert_eq!(seq_of(&comm.receive_json().await), 3);
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn another_epoch_or_a_hostile_since_is_not_recovered() {
    let router = router();
    let mut comm = connect(&router).await;
    RoomTopic::broadcast(router.layer(), "room:c", &Said { payload: 1 }, None).await.expect("published");
    let other = comm.subscribe_since("room:c", 0, "an-epoch-of-a-lost-history").await;
    assert!(!other.recovered);
    assert_eq!(other.seq, 1);
    assert!(comm.receive_nothing().await);
    comm.reconnect().await;
    for since in
        [json!({"seq": -1, "epoch": other.epoch}), json!({"seq": 1, "epoch": "x".repeat(10_000)}), json!("junk")]
    {
        comm.send_json(&json!({"version": 1, "topic": "room:c", "action": "subscribe", "payload": {"since": since}}))
            .await;
        let answer = comm.receive_json().await;
        assert_eq!(answer["payload"]["recovered"], false, "{answer}");
        comm.unsubscribe("room:c").await;
    }
    // A seq from the future of this epoch is not ours either.
    assert!(!comm.subscribe_since("room:c", 5, &other.epoch).await.recovered);
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn a_topic_without_history_ignores_since() {
    let router = router();
    let mut comm = connect(&router).await;
    comm.send_json(&json!({
        "version": 1, "topic": "plain:p", "action": "subscribe", "payload": {"since": {"seq": 3, "epoch": "e"}},
    }))
    .await;
    assert_eq!(comm.receive_json().await["payload"], Value::Null);
    PlainTopic::broadcast(router.layer(), "plain:p", &Said { payload: 1 }, Some(41)).await.expect("published");
    assert_eq!(seq_of(&comm.receive_json().await), 41, "the caller's seq, as before");
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn a_recovering_subscription_follows_its_topic_into_a_new_epoch() {
    let router = router();
    let mut comm = connect(&router).await;
    let first = comm.subscribe_since("short:idle", 0, "").await;
    for n in 1..=3 {
        ShortTopic::broadcast(router.layer(), "short:idle", &Said { payload: n }, None).await.expect("published");
        assert_eq!(seq_of(&comm.receive_json().await), n);
    }
    // The room goes quiet past its ttl; its log is swept (at a later publish elsewhere), so the
    // next push starts a new epoch at seq 1. The subscription is still live and must get it.
    sleep(Duration::from_secs(6)).await;
    for n in 0..1024 {
        ShortTopic::broadcast(router.layer(), "short:elsewhere", &Said { payload: n }, None).await.expect("published");
    }
    for n in 1..=2 {
        ShortTopic::broadcast(router.layer(), "short:idle", &Said { payload: 10 + n }, None).await.expect("published");
        let frame = comm.try_receive_json(Duration::from_secs(1)).await;
        let frame = frame.unwrap_or_else(|err| panic!("push {n} of the new epoch was dropped: {err}"));
        assert_eq!((seq_of(&frame), &frame["payload"]), (n, &json!(10 + n)));
    }
    comm.reconnect().await;
    let again = comm.subscribe_since("short:idle", 2, &first.epoch).await;
    assert!(!again.recovered && again.epoch != first.epoch, "the old epoch's client reloads: {again:?}");
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn an_unsubscribe_during_a_replay_ends_the_replay() {
    let router = router();
    let mut comm = connect(&router).await;
    let first = comm.subscribe_since("room:u", 0, "").await;
    comm.reconnect().await;
    for n in 1..=10 {
        RoomTopic::broadcast(router.layer(), "room:u", &Said { payload: n }, None).await.expect("published");
    }
    // The replay takes 20 ms a push; the client leaves after the first.
    assert!(comm.subscribe_since("room:u", first.seq, &first.epoch).await.recovered);
    assert_eq!(seq_of(&comm.receive_json().await), 1);
    comm.send_json(&json!({"version": 1, "topic": "room:u", "ref": "u", "action": "unsubscribe"})).await;
    let frames = comm.receive_all_json(Duration::from_secs(1)).await;
    let left = frames.iter().position(|f| f["action"] == "unsubscribed").expect("unsubscribed");
    // The push whose handler was running may still follow; no other replayed push does.
    let after: Vec<&Value> = frames[left..].iter().filter(|f| f["action"] == "said").collect();
    assert!(after.len() <= 1, "replayed pushes after `unsubscribed`: {frames:?}");
    // Subscribing again replays once, in order, with nothing of the first replay mixed in.
    comm.reconnect().await;
    assert!(comm.subscribe_since("room:u", 0, &first.epoch).await.recovered);
    let replayed: Vec<u64> = comm.receive_all_json(Duration::from_secs(1)).await.iter().map(seq_of).collect();
    assert_eq!(replayed, (1..=10).collect::<Vec<_>>());
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn a_subscription_ended_during_its_replay_never_runs_on_subscribe_after_on_unsubscribe() {
    let router = router();
    let mut comm = connect(&router).await;
    let first = comm.subscribe_since("hooked:h", 0, "").await;
    comm.reconnect().await;
    for n in 1..=5 {
        HookedTopic::broadcast(router.layer(), "hooked:h", &Said { payload: n }, None).await.expect("published");
    }
    assert!(comm.subscribe_since("hooked:h", first.seq, &first.epoch).await.recovered);
    comm.send_json(&json!({"version": 1, "topic": "hooked:h", "ref": "u", "action": "unsubscribe"})).await;
    comm.receive_all_json(Duration::from_secs(1)).await;
    comm.disconnect().await;
    let hooks = HOOKS.lock().expect("hooks").clone();
    // The first subscription's pair, then the second's: both hooks or neither, in that order.
    let second = &hooks[2..];
    assert!(second.is_empty() || second == ["on_subscribe", "on_unsubscribe"], "{hooks:?}");
    assert_eq!(hooks[..2], ["on_subscribe", "on_unsubscribe"]);
}

#[tokio::test(start_paused = true)]
async fn a_replay_longer_than_the_outbound_queue_reaches_a_reading_client() {
    let router = router();
    // Completion frames on: each replayed push is two frames, 1,800 in all, over the queue's 1,024.
    let mut comm = WebsocketCommunicator::builder(&router, "/ws/hub/")
        .send_completion(true)
        .timeout(Duration::from_secs(60))
        .connect()
        .await;
    let first = comm.subscribe_since("short:long", 0, "").await;
    comm.reconnect().await;
    for n in 1..=900 {
        ShortTopic::broadcast(router.layer(), "short:long", &Said { payload: n }, None).await.expect("published");
    }
    assert!(comm.subscribe_since("short:long", first.seq, &first.epoch).await.recovered);
    let frames = comm.receive_all_json(Duration::from_secs(1)).await;
    let seqs: Vec<u64> = frames.iter().filter(|f| f["action"] == "said").map(seq_of).collect();
    assert_eq!(seqs, (1..=900).collect::<Vec<_>>(), "closed: {:?}", comm.close_reason());
    comm.disconnect().await;
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "line")]
struct Line {
    payload: String,
}

/// A log whose pushes are a kilobyte each.
#[derive(Default)]
struct LogTopic;

#[chanx::topic(pattern = "log:{name}", history(size = 1000, ttl = "5m"))]
impl LogTopic {
    #[event_handler]
    async fn line(&self, event: Line) -> Line {
        event
    }
}

struct LogHub;

#[chanx::consumer(topics = [LogTopic])]
impl LogHub {}

#[tokio::test(start_paused = true)]
async fn a_client_that_reads_nothing_of_a_replay_is_closed_as_slow() {
    let settings = chanx::Settings::default().outbound_capacity(8).close_timeout(Duration::from_millis(100));
    let router = Router::new().route("/ws/log/", |_: &Scope| LogHub).with_settings(settings);
    let mut comm = WebsocketCommunicator::builder(&router, "/ws/log/")
        .send_completion(false)
        .timeout(Duration::from_secs(60))
        .connect()
        .await;
    let first = comm.subscribe_since("log:a", 0, "").await;
    comm.reconnect().await;
    // 900 KiB: far more than the client's pipe and the queue hold.
    for _ in 0..900 {
        LogTopic::broadcast(router.layer(), "log:a", &Line { payload: "x".repeat(1024) }, None).await.expect("sent");
    }
    comm.send_json(&json!({"version": 1, "topic": "log:a", "ref": "r", "action": "subscribe",
                           "payload": {"since": {"seq": first.seq, "epoch": first.epoch}}}))
        .await;
    // The client reads nothing for 30 s (within the idle timeout, so only its reading is
    // slow): the replay must not wait for it for ever.
    sleep(Duration::from_secs(30)).await;
    let mut seqs = Vec::new();
    let end = loop {
        match comm.try_receive_json(Duration::from_secs(5)).await {
            Ok(frame) if frame["action"] == "line" => seqs.push(seq_of(&frame)),
            Ok(frame) => assert_eq!(frame["action"], "subscribed", "{frame}"),
            Err(err) => break err,
        }
    };
    // 1008, unless the stalled pipe had no room for the close frame either.
    let closed = matches!(end, chanx::testing::ReceiveError::Closed(None | Some(1008)));
    assert!(closed, "{end:?} after {} pushes", seqs.len());
    // What arrived before the close is in order, without a gap: the client recovers the rest.
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert!(seqs.len() < 900);
}

#[tokio::test(start_paused = true)]
async fn live_pushes_piling_up_behind_a_long_replay_close_the_connection_with_1013() {
    let router = router();
    let mut comm = connect(&router).await;
    let first = comm.subscribe_since("room:busy", 0, "").await;
    comm.reconnect().await;
    for n in 1..=1000 {
        RoomTopic::broadcast(router.layer(), "room:busy", &Said { payload: n }, None).await.expect("published");
    }
    // The replay takes 20 ms a push; meanwhile more live pushes come than a seam holds.
    assert!(comm.subscribe_since("room:busy", first.seq, &first.epoch).await.recovered);
    for n in 1001..=6000 {
        RoomTopic::broadcast(router.layer(), "room:busy", &Said { payload: n }, None).await.expect("published");
        if n % 100 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let mut last = 0;
    let end = loop {
        match comm.try_receive_json(Duration::from_secs(60)).await {
            Ok(frame) => {
                assert_eq!(seq_of(&frame), last + 1, "in order, without a gap: {frame}");
                last += 1;
            }
            Err(err) => break err,
        }
    };
    assert!(matches!(end, chanx::testing::ReceiveError::Closed(Some(1013))), "{end:?} after {last}");
    assert!(last < 6000, "closed before the end");
}
