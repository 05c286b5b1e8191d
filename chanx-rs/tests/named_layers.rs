//! Named layers: a router holds several channel layers by name and each consumer uses the one it
//! names (`#[consumer(layer = "...")]`, chanx's `channel_layer_alias`); a consumer naming a layer
//! the router lacks stops the router at start-up, and the AsyncAPI document does not change.
//!
//! Driven through the test communicator on tokio's paused clock.

use std::time::Duration;

use chanx::asyncapi::AsyncApi;
use chanx::layer::DEFAULT_LAYER;
use chanx::messages::{EVENT_COMPLETE, GROUP_COMPLETE};
use chanx::testing::WebsocketCommunicator;
use chanx::{Consumer, Context, Layer, Message, Router, RouterError, Scope};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(2);

/// A line of chat, relayed to the group `room`.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "say")]
struct Say {
    payload: String,
}

/// An event: a job finished.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "job_done")]
struct JobDone {
    payload: String,
}

/// What a client sees of [`JobDone`].
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "job_status")]
struct JobStatus {
    payload: String,
}

/// On the router's default layer.
struct ChatConsumer;

/// Chat and job results.
#[chanx::consumer(name = "room", groups = ["room"])]
impl ChatConsumer {
    #[ws_handler(output = [Say])]
    async fn say(&self, ctx: &Context, msg: Say) -> Result<(), chanx::layer::LayerError> {
        ctx.broadcast_message(&msg).await
    }

    #[event_handler]
    async fn job_done(&self, event: JobDone) -> JobStatus {
        JobStatus { payload: event.payload }
    }
}

/// The same consumer on the layer named "jobs": same group name, other layer.
struct JobsConsumer;

/// Chat and job results.
#[chanx::consumer(name = "room", groups = ["room"], layer = "jobs")]
impl JobsConsumer {
    #[ws_handler(output = [Say])]
    async fn say(&self, ctx: &Context, msg: Say) -> Result<(), chanx::layer::LayerError> {
        ctx.broadcast_message(&msg).await
    }

    #[event_handler]
    async fn job_done(&self, event: JobDone) -> JobStatus {
        JobStatus { payload: event.payload }
    }
}

fn router() -> Router {
    Router::new()
        .route("/ws/chat/", |_: &Scope| ChatConsumer)
        .route("/ws/jobs/", |_: &Scope| JobsConsumer)
        .with_named_layer("jobs", Layer::memory())
}

#[test]
fn the_macro_records_the_layer_a_consumer_names() {
    assert_eq!(ChatConsumer::LAYER, DEFAULT_LAYER);
    assert_eq!(JobsConsumer::LAYER, "jobs");
}

#[tokio::test(start_paused = true)]
async fn each_consumer_talks_through_the_layer_it_names() {
    let router = router();
    let mut chat = WebsocketCommunicator::connect(&router, "/ws/chat/").await;
    let mut jobs = WebsocketCommunicator::connect(&router, "/ws/jobs/").await;

    // Both are in a group named "room", but on different layers: a broadcast stays on its own.
    jobs.send_json(&json!({"action": "say", "payload": "on jobs"})).await;
    assert_eq!(jobs.receive_all_messages(GROUP_COMPLETE, WAIT).await, [json!({"action": "say", "payload": "on jobs"})]);
    assert!(chat.receive_nothing().await);
    chat.send_json(&json!({"action": "say", "payload": "on default"})).await;
    assert_eq!(
        chat.receive_all_messages(GROUP_COMPLETE, WAIT).await,
        [json!({"action": "say", "payload": "on default"})]
    );
    assert!(jobs.receive_nothing().await);

    // From outside a connection: each layer handle reaches the consumers that use it.
    let job = JobDone { payload: "42".into() };
    JobsConsumer::broadcast_event(router.named_layer("jobs").expect("configured"), &job).await.expect("sent");
    assert_eq!(
        jobs.receive_all_messages(EVENT_COMPLETE, WAIT).await,
        [json!({"action": "job_status", "payload": "42"})]
    );
    assert!(chat.receive_nothing().await);
    ChatConsumer::broadcast_event(router.layer(), &job).await.expect("sent");
    assert_eq!(
        chat.receive_all_messages(EVENT_COMPLETE, WAIT).await,
        [json!({"action": "job_status", "payload": "42"})]
    );
    assert!(jobs.receive_nothing().await);

    chat.disconnect().await;
    jobs.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn the_default_name_is_the_default_layer() {
    let shared = Layer::memory();
    let router = Router::new().route("/ws/chat/", |_: &Scope| ChatConsumer).with_named_layer("default", shared.clone());
    let mut chat = WebsocketCommunicator::connect(&router, "/ws/chat/").await;
    ChatConsumer::broadcast_event(&shared, &JobDone { payload: "7".into() }).await.expect("sent");
    assert_eq!(
        chat.receive_all_messages(EVENT_COMPLETE, WAIT).await,
        [json!({"action": "job_status", "payload": "7"})]
    );
    assert_eq!(router.layer_names(), ["default"]);
    chat.disconnect().await;
}

#[test]
fn a_consumer_naming_a_missing_layer_is_a_start_up_error() {
    let router =
        Router::new().route("/ws/chat/", |_: &Scope| ChatConsumer).route("/ws/jobs/", |_: &Scope| JobsConsumer);
    let err = router.check().expect_err("no layer is named jobs");
    assert_eq!(
        err,
        RouterError::UnknownLayer {
            path: "/ws/jobs/".into(),
            consumer: "JobsConsumer",
            layer: "jobs",
            available: vec!["default".into()],
        }
    );
    assert_eq!(
        err.to_string(),
        "the consumer JobsConsumer at \"/ws/jobs/\" uses the channel layer \"jobs\", which this router does not have \
         (it has [\"default\"]): add it with Router::with_named_layer(\"jobs\", layer)"
    );
    // A nested router's layers are not used: its consumers need the outer router's.
    let nested = Router::new().nest(
        "/api",
        Router::new().route("/ws/jobs/", |_: &Scope| JobsConsumer).with_named_layer("jobs", Layer::memory()),
    );
    assert!(matches!(nested.check(), Err(RouterError::UnknownLayer { layer: "jobs", .. })));
}

#[tokio::test(start_paused = true)]
async fn serve_refuses_to_start_without_the_layer() {
    let router = Router::new().route("/ws/jobs/", |_: &Scope| JobsConsumer);
    let (listener, _connector) = chanx::testing::MemoryListener::new();
    let served =
        tokio::time::timeout(WAIT, chanx::serve(listener, router).with_graceful_shutdown(std::future::pending())).await;
    let err = served.expect("returns at once").expect_err("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("uses the channel layer \"jobs\""), "{err}");
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "uses the channel layer \"jobs\", which this router does not have")]
async fn the_communicator_refuses_a_router_without_the_layer() {
    let router = Router::new().route("/ws/jobs/", |_: &Scope| JobsConsumer);
    WebsocketCommunicator::connect(&router, "/ws/jobs/").await;
}

#[test]
fn asyncapi_does_not_depend_on_the_layer() {
    let spec = AsyncApi::new("Rooms", "1.0.0");
    let on_default = Router::new().route("/ws/room/", |_: &Scope| ChatConsumer);
    let on_jobs = Router::new().route("/ws/room/", |_: &Scope| JobsConsumer).with_named_layer("jobs", Layer::memory());
    assert_eq!(spec.to_json(&on_default), spec.to_json(&on_jobs));
}
