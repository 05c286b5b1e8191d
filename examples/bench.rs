//! The benchmark consumer: `{"action":"ping"}` is answered with `{"action":"pong","payload":null}`,
//! and `{"action":"broadcast","payload":{...}}` is sent, as is, to every connection of group
//! `bench` (which every connection joins, the sender included). `{"action":"join","payload":
//! {"group":"g"}}` joins group `g` and is answered with `{"action":"joined","payload":null}`;
//! `leave` leaves it and is answered with `left` (the benchmark times joins and leaves).
//!
//! Run with:
//!
//! ```sh
//! cargo run --release --example bench -- --addr 127.0.0.1:8080
//! ```
//!
//! then connect to `ws://127.0.0.1:8080/ws/bench/`. With `REDIS_URL` set, group `bench` spans
//! every process using that Redis: over pub/sub (channels_redis's `RedisPubSubChannelLayer`), or
//! with `REDIS_LAYER=core` beside it over channels_redis's default `RedisChannelLayer` (prefix
//! `asgi`), so that a Django Channels process can join the group too.
//!
//! Two topics measure what history costs a fan-out (docs/benchmarks.md): `/ws/feed/` subscribes
//! its connection to topic `feed`, which keeps no history, and `/ws/feed/history/` to
//! `feed.history`, which keeps the last 1,000 pushes for 5 minutes. On either route
//! `{"action":"publish","payload":{...}}` pushes `{"action":"published","payload":{...}}`, with
//! the topic (and, on `feed.history`, the history's `seq`), to every subscriber of that topic.

use chanx::layer::LayerError;
use chanx::messages::{Ping, Pong};
use chanx::{Context, Message, Router, Scope, Topic};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A frame to relay to the whole `bench` group.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "broadcast")]
pub struct Broadcast {
    /// Anything; it is relayed unchanged.
    pub payload: Value,
}

/// The group a `join` or `leave` names.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct GroupRef {
    /// A group name.
    pub group: String,
}

/// Joins a group.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "join")]
pub struct Join {
    /// The group.
    pub payload: GroupRef,
}

/// Leaves a group.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "leave")]
pub struct Leave {
    /// The group.
    pub payload: GroupRef,
}

/// The answer to [`Join`].
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, Default, PartialEq, Eq)]
#[message(action = "joined")]
pub struct Joined {}

/// The answer to [`Leave`].
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, Default, PartialEq, Eq)]
#[message(action = "left")]
pub struct Left {}

/// A frame to push to every subscriber of the route's topic.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "publish")]
pub struct Publish {
    /// Anything; it is pushed unchanged.
    pub payload: Value,
}

/// A push of a feed topic: what [`Publish`] carried.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "published")]
pub struct Published {
    /// The published payload.
    pub payload: Value,
}

/// Topic `feed`: pushes without history (the baseline of the history rows).
#[derive(Default)]
pub struct FeedTopic;

/// A feed without history: `publish` pushes to every subscriber.
#[chanx::topic(pattern = "feed")]
impl Topic for FeedTopic {
    /// Pushes the payload to every subscriber of `feed`.
    #[ws_handler(output = [Published])]
    async fn publish(&self, ctx: &Context, msg: Publish) -> Result<(), LayerError> {
        FeedTopic::broadcast(ctx.layer(), "feed", &Published { payload: msg.payload }, None).await
    }

    /// A push reaches a subscriber's client as it was published.
    #[event_handler]
    async fn published(&self, event: Published) -> Published {
        event
    }
}

/// Topic `feed.history`: the same pushes, numbered and kept by the topic's history.
#[derive(Default)]
pub struct HistoryFeedTopic;

/// A feed with history: `publish` pushes to every subscriber, each push kept and numbered.
#[chanx::topic(pattern = "feed.history", history(size = 1000, ttl = "5m"))]
impl Topic for HistoryFeedTopic {
    /// Pushes the payload to every subscriber of `feed.history`, through its history.
    #[ws_handler(output = [Published])]
    async fn publish(&self, ctx: &Context, msg: Publish) -> Result<(), LayerError> {
        HistoryFeedTopic::broadcast(ctx.layer(), "feed.history", &Published { payload: msg.payload }, None).await
    }

    /// A push reaches a subscriber's client as it was published.
    #[event_handler]
    async fn published(&self, event: Published) -> Published {
        event
    }
}

/// Answers pings and relays broadcasts to everyone connected.
pub struct BenchConsumer;

#[chanx::consumer(groups = ["bench"])]
impl BenchConsumer {
    /// Round-trip latency probe.
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }

    /// Fan-out probe: the frame goes to every member of `bench`, serialized once.
    #[ws_handler(output = [Broadcast])]
    async fn broadcast(&self, ctx: &Context, msg: Broadcast) -> Result<(), LayerError> {
        ctx.broadcast_message(&msg).await
    }

    /// Group churn probe: joins a group.
    #[ws_handler]
    async fn join(&self, ctx: &Context, msg: Join) -> Result<Joined, LayerError> {
        ctx.join_group(&msg.payload.group).await?;
        Ok(Joined {})
    }

    /// Group churn probe: leaves a group.
    #[ws_handler]
    async fn leave(&self, ctx: &Context, msg: Leave) -> Result<Left, LayerError> {
        ctx.leave_group(&msg.payload.group).await?;
        Ok(Left {})
    }
}

/// The app: the consumer, and each feed topic on its own route.
pub fn router() -> Router {
    Router::new()
        .route("/ws/bench/", |_: &Scope| BenchConsumer)
        .topic::<FeedTopic>("/ws/feed/")
        .topic::<HistoryFeedTopic>("/ws/feed/history/")
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    chanx_workspace::init_logging();
    let addr = chanx_workspace::addr_arg("127.0.0.1:8080");
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!("bench consumer on ws://{}/ws/bench/", listener.local_addr()?);
    // Several processes share groups through Redis when REDIS_URL is set; REDIS_LAYER picks
    // the Redis layer (`pubsub`, the default, or `core`).
    let (redis_url, redis_layer) = (std::env::var("REDIS_URL").ok(), std::env::var("REDIS_LAYER").ok());
    let layer =
        chanx::Layer::from_url_and_kind(redis_url.as_deref(), redis_layer.as_deref()).map_err(std::io::Error::other)?;
    chanx::serve(listener, router().with_layer(layer)).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_asyncapi_document_matches_the_committed_one() {
        let spec = chanx::asyncapi::AsyncApi::new("Benchmark", "1.0.0");
        chanx_workspace::assert_golden("bench.asyncapi.json", &spec.to_json(&super::router()));
    }

    use std::time::Duration;

    use chanx::messages::{COMPLETE, GROUP_COMPLETE};
    use chanx::testing::WebsocketCommunicator;
    use serde_json::json;

    use super::*;

    const WAIT: Duration = Duration::from_secs(2);

    #[tokio::test]
    async fn ping_is_answered_with_pong() {
        let router = router();
        let mut comm = WebsocketCommunicator::connect(&router, "/ws/bench/").await;
        comm.send_json(&json!({"action": "ping"})).await;
        assert_eq!(comm.receive_all_messages(COMPLETE, WAIT).await, [json!({"action": "pong", "payload": null})]);
        comm.disconnect().await;
    }

    #[tokio::test]
    async fn broadcast_reaches_every_member_and_the_sender() {
        let router = router();
        let mut sender = WebsocketCommunicator::connect(&router, "/ws/bench/").await;
        let mut other = WebsocketCommunicator::connect(&router, "/ws/bench/").await;
        let frame = json!({"action": "broadcast", "payload": {"t": 1, "data": "x"}});
        sender.send_json(&frame).await;
        assert_eq!(sender.receive_all_messages(GROUP_COMPLETE, WAIT).await, std::slice::from_ref(&frame));
        assert_eq!(other.receive_all_messages(GROUP_COMPLETE, WAIT).await, [frame]);
        sender.disconnect().await;
        other.disconnect().await;
    }

    #[tokio::test]
    async fn a_feed_pushes_to_its_subscribers_and_the_history_feed_numbers_its_pushes() {
        let router = router();
        for (path, topic, seqs) in
            [("/ws/feed/", "feed", [None, None]), ("/ws/feed/history/", "feed.history", [Some(1), Some(2)])]
        {
            let mut publisher = WebsocketCommunicator::connect(&router, path).await;
            let mut member = WebsocketCommunicator::connect(&router, path).await;
            for comm in [&mut publisher, &mut member] {
                assert_eq!(comm.receive_json().await["action"], "subscribed", "{path}");
            }
            for (n, seq) in seqs.into_iter().enumerate() {
                publisher.send_json(&json!({"action": "publish", "payload": {"t": n}})).await;
                for comm in [&mut publisher, &mut member] {
                    // The communicator sends completion frames (`complete`, `event_complete`): skip them.
                    let push = loop {
                        let frame = comm.receive_json().await;
                        if !frame["action"].as_str().is_some_and(|a| a.ends_with("complete")) {
                            break frame;
                        }
                    };
                    assert_eq!(
                        (push["action"].as_str(), push["topic"].as_str()),
                        (Some("published"), Some(topic)),
                        "{push}"
                    );
                    assert_eq!(push["payload"], json!({"t": n}));
                    assert_eq!(push["seq"].as_i64(), seq, "{push}");
                }
            }
            publisher.disconnect().await;
            member.disconnect().await;
        }
    }
}
