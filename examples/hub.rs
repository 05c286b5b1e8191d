//! Topics: many rooms over one socket, as chanx 2.10–2.13 clients multiplex them.
//!
//! - `/ws/hub/`: `HubConsumer` answers `ping` with `pong` (frames without a `topic`) and hosts
//!   `RoomTopic`. A client subscribes with
//!   `{"version": 1, "topic": "room:lobby", "ref": "1", "action": "subscribe"}`.
//! - `RoomTopic`, pattern `room:{name}`: rooms whose name starts with `private` are refused;
//!   `say` (a string) is answered with `said` (the same string, with the request's `ref`);
//!   `shout` (a string) pushes `shouted` with `{"text": ...}` to everyone in the room, with a
//!   `seq` counting 1, 2, 3… per room, assigned by the room's history: the last 1,000 shouts
//!   are kept for 5 minutes, and a client that reconnects subscribes with
//!   `"payload": {"since": {"seq": N, "epoch": "…"}}` to get the ones it missed. It keeps
//!   presence: each member is listed by the `name` query parameter of its connection URL
//!   (`/ws/hub/?name=ada`), or `anonymous`.
//! - `/ws/rooms/{name}/`: `RoomTopic` on its own route: connecting subscribes `room:{name}`, and
//!   frames need no `topic`.
//! - The AsyncAPI document is at `/asyncapi/asyncapi.json` (the page at `/asyncapi/`); chanx's
//!   `chanx generate-client` makes a client with typed room handles from it.
//!
//! Run with:
//!
//! ```sh
//! cargo run --release --example hub -- --addr 127.0.0.1:8000
//! ```
//!
//! With `REDIS_URL` set, rooms span every process (chanx-rs or Python chanx) using that Redis;
//! `REDIS_LAYER=core` speaks channels_redis's default `RedisChannelLayer` instead of its pub/sub one,
//! and `LAYER_PREFIX` sets the key prefix (`asgi` by default). On the pub/sub layer the rooms'
//! presence lists live in Redis too: every process lists every member, and the members of a
//! process that is killed leave within 20 seconds.
//! Export the document with `cargo run --example hub -- --asyncapi hub.asyncapi.json`.

use chanx::layer::LayerError;
use chanx::messages::{Ping, Pong};
use chanx::{Context, Message, Router, Scope, Topic, TopicParams};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Says something to the room; answered to the sender only.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[message(action = "say")]
pub struct Say {
    /// What to say.
    pub payload: String,
}

/// The answer to [`Say`].
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[message(action = "said")]
pub struct Said {
    /// What was said.
    pub payload: String,
}

/// Shouts to everyone in the room.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[message(action = "shout")]
pub struct Shout {
    /// What to shout.
    pub payload: String,
}

/// What was shouted.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
pub struct ShoutedText {
    /// The text.
    pub text: String,
}

/// A shout, pushed to everyone in the room (the event, and the frame it becomes).
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[message(action = "shouted")]
pub struct Shouted {
    /// The shout.
    pub payload: ShoutedText,
}

/// A chat room (`RoomTopic`).
#[derive(Default)]
pub struct RoomTopic;

/// A chat room: `say` to get it back, `shout` to tell everyone in it.
#[chanx::topic(pattern = "room:{name}", history(size = 1000, ttl = "5m"), presence = String)]
impl Topic for RoomTopic {
    /// Lists the member by the `name` query parameter of its connection.
    fn presence(&self, ctx: &Context) -> Option<String> {
        Some(ctx.scope().query("name").unwrap_or("anonymous").to_owned())
    }

    async fn authorize(&self, _ctx: &Context, params: &TopicParams) -> bool {
        !params.get("name").is_some_and(|name| name.starts_with("private"))
    }

    /// Answers the sender with what it said.
    #[ws_handler]
    async fn say(&self, msg: Say) -> Said {
        Said { payload: msg.payload }
    }

    /// Pushes the shout to everyone in the room (as `shouted`, numbered by the room's history).
    #[ws_handler]
    async fn shout(&self, ctx: &Context, msg: Shout) -> Result<(), LayerError> {
        let topic = ctx.topic().unwrap_or_default();
        let event = Shouted { payload: ShoutedText { text: msg.payload } };
        RoomTopic::broadcast(ctx.layer(), topic, &event, None).await
    }

    /// A shout reaches a subscriber's client as it was sent.
    #[event_handler]
    async fn shouted(&self, event: Shouted) -> Shouted {
        event
    }
}

/// The hub (`HubConsumer`).
pub struct HubConsumer;

/// One socket, many rooms: `ping` it, and subscribe to `room:{name}` topics.
#[chanx::consumer(topics = [RoomTopic])]
impl HubConsumer {
    /// Liveness check.
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }
}

/// The app: the hub, and each room on its own route.
pub fn router() -> Router {
    Router::new().route("/ws/hub/", |_: &Scope| HubConsumer).topic::<RoomTopic>("/ws/rooms/{name}/")
}

/// The AsyncAPI settings of the app.
pub fn spec() -> chanx::asyncapi::AsyncApi {
    chanx::asyncapi::AsyncApi::new("Hub", "1.0.0").description("The hub example: rooms as topics.")
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    chanx_workspace::init_logging();
    let args: Vec<String> = std::env::args().collect();
    if let Some(file) = args.windows(2).find(|w| w[0] == "--asyncapi").map(|w| &w[1]) {
        spec().write(&router(), file)?;
        println!("AsyncAPI document written to {file}");
        return Ok(());
    }
    let addr = chanx_workspace::addr_arg("127.0.0.1:8000");
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(
        "hub on ws://{local}/ws/hub/, rooms on ws://{local}/ws/rooms/{{name}}/, documentation on http://{local}/asyncapi/"
    );
    let layer = layer_from_env().map_err(std::io::Error::other)?;
    chanx::serve(listener, router().with_layer(layer).asyncapi("/asyncapi/", spec())).await
}

/// Rooms span every process using the same Redis when `REDIS_URL` is set; `REDIS_LAYER=core`
/// picks channels_redis's default layer (RedisChannelLayer) instead of its pub/sub one, and
/// `LAYER_PREFIX` the key prefix (`asgi` by default, as channels_redis's).
fn layer_from_env() -> Result<chanx::Layer, LayerError> {
    let var = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
    let (url, kind) = (var("REDIS_URL"), var("REDIS_LAYER"));
    let (Some(url), Some(prefix)) = (url.clone(), var("LAYER_PREFIX")) else {
        return chanx::Layer::from_url_and_kind(url.as_deref(), kind.as_deref());
    };
    match kind.as_deref() {
        Some("core") => Ok(chanx::Layer::new(chanx::layer::RedisCoreLayer::builder([url]).prefix(prefix).build()?)),
        None | Some("pubsub") => {
            Ok(chanx::Layer::new(chanx::layer::RedisLayer::builder([url]).prefix(prefix).build()?))
        }
        Some(other) => Err(LayerError::UnknownLayerKind(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_asyncapi_document_matches_the_committed_one() {
        chanx_workspace::assert_golden("hub.asyncapi.json", &super::spec().to_json(&super::router()));
    }

    use std::time::Duration;

    use chanx::messages::COMPLETE;
    use chanx::testing::WebsocketCommunicator;
    use serde_json::json;

    use super::*;

    const WAIT: Duration = Duration::from_secs(2);

    #[tokio::test]
    async fn one_socket_pings_and_talks_in_a_room() {
        let router = router();
        let mut comm = WebsocketCommunicator::connect(&router, "/ws/hub/?name=ada").await;
        comm.send_json(&json!({"action": "ping"})).await;
        assert_eq!(comm.receive_all_messages(COMPLETE, WAIT).await, [json!({"action": "pong", "payload": null})]);
        assert_eq!(comm.subscribe("room:lobby").await["action"], "subscribed");
        let members = comm.receive_json().await;
        assert_eq!(members["action"], "presence_state");
        assert_eq!(members["payload"]["members"][0]["entry"], "ada", "listed by its `name`");
        comm.send_to_topic("room:lobby", &Say { payload: "hi".into() }, Some("2")).await;
        let said = comm.receive_topic_message::<Said>().await;
        assert_eq!((said.message.payload.as_str(), said.reference.as_deref()), ("hi", Some("2")));
        comm.disconnect().await;
    }

    #[tokio::test]
    async fn private_rooms_are_refused() {
        let router = router();
        let mut comm = WebsocketCommunicator::connect(&router, "/ws/hub/").await;
        let refused = comm.subscribe("room:private-ops").await;
        assert_eq!(
            refused["payload"],
            json!({"reason": "unauthorized", "detail": "Not allowed to subscribe to 'room:private-ops'"})
        );
        comm.disconnect().await;
    }

    #[tokio::test]
    async fn a_shout_reaches_the_hub_and_the_standalone_route_with_counting_seqs() {
        let router = router();
        let mut hub = WebsocketCommunicator::connect(&router, "/ws/hub/").await;
        let mut alone = WebsocketCommunicator::connect(&router, "/ws/rooms/shouts-test/").await;
        assert_eq!(
            alone.receive_json().await,
            json!({"action": "subscribed", "payload": null, "version": 1, "topic": "room:shouts-test"})
        );
        assert_eq!(alone.receive_json().await["payload"]["members"][0]["entry"], "anonymous");
        hub.subscribe("room:shouts-test").await;
        assert_eq!(hub.receive_json().await["payload"]["members"].as_array().map(Vec::len), Some(2));
        let joined = alone.receive_all_messages("group_complete", WAIT).await;
        assert_eq!((joined.len(), &joined[0]["action"]), (1, &json!("presence_join")));
        for expected in 1..=2 {
            hub.send_to_topic("room:shouts-test", &Shout { payload: "hey".into() }, None).await;
            for comm in [&mut hub, &mut alone] {
                let pushed = comm.receive_topic_message::<Shouted>().await;
                assert_eq!((pushed.message.payload.text.as_str(), pushed.seq), ("hey", Some(expected)));
            }
        }
        hub.disconnect().await;
        alone.disconnect().await;
    }

    #[tokio::test]
    async fn a_client_back_from_a_dropped_socket_gets_the_shouts_it_missed() {
        let router = router();
        let mut reader = WebsocketCommunicator::connect(&router, "/ws/hub/").await;
        let first = reader.subscribe_since("room:recovery-test", 0, "").await;
        reader.reconnect().await;
        let mut shouter = WebsocketCommunicator::connect(&router, "/ws/rooms/recovery-test/").await;
        shouter.receive_json().await; // subscribed
        shouter.receive_json().await; // presence_state
        shouter.send_message(&Shout { payload: "while you were away".into() }).await;
        assert_eq!(shouter.receive_topic_message::<Shouted>().await.seq, Some(1));
        let back = reader.subscribe_since("room:recovery-test", first.seq, &first.epoch).await;
        assert!(back.recovered && back.seq == 1, "{back:?}");
        let missed = reader.receive_topic_message::<Shouted>().await;
        assert_eq!((missed.message.payload.text.as_str(), missed.seq), ("while you were away", Some(1)));
        reader.disconnect().await;
        shouter.disconnect().await;
    }
}
