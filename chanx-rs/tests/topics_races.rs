//! Topics under a hostile or hurried client: frames that race each other on one connection.
//! Each test is a sequence a real client can send, and what it must then be able to rely on.

use std::time::Duration;

use chanx::testing::WebsocketCommunicator;
use chanx::{Context, Message, Router, Scope, Settings, Topic};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "news")]
struct News {
    payload: String,
}

/// A feed whose `on_unsubscribe` takes a while (writing a "last seen" mark, say).
#[derive(Default)]
struct FeedTopic;

#[chanx::topic(pattern = "feed:{name}")]
impl Topic for FeedTopic {
    async fn on_unsubscribe(&self, _ctx: &Context) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    #[event_handler]
    async fn news(&self, event: News) -> News {
        event
    }
}

struct Hub;

#[chanx::consumer(topics = [FeedTopic])]
impl Hub {}

fn router() -> Router {
    Router::new().route("/ws/hub/", |_: &Scope| Hub).topic::<FeedTopic>("/ws/feeds/{name}/")
}

/// Unsubscribing and subscribing again at once (a client switching back to a feed) leaves the
/// connection subscribed, and it still gets the feed's pushes: the slow unsubscribe must not
/// take the renewed subscription's group away.
#[tokio::test(start_paused = true)]
async fn resubscribing_while_an_unsubscribe_is_under_way_keeps_the_pushes_coming() {
    let router = router();
    let mut comm = WebsocketCommunicator::connect(&router, "/ws/hub/").await;
    comm.subscribe("feed:a").await;
    comm.send_json(&json!({"version": 1, "topic": "feed:a", "ref": "u", "action": "unsubscribe"})).await;
    comm.send_json(&json!({"version": 1, "topic": "feed:a", "ref": "s", "action": "subscribe"})).await;
    let mut answers = [comm.receive_json().await, comm.receive_json().await];
    answers.sort_by_key(|frame| frame["ref"].as_str().map(str::to_owned));
    assert_eq!(
        answers,
        [
            json!({"action": "subscribed", "payload": null, "version": 1, "topic": "feed:a", "ref": "s"}),
            json!({"action": "unsubscribed", "payload": null, "version": 1, "topic": "feed:a", "ref": "u"}),
        ]
    );
    FeedTopic::broadcast(router.layer(), "feed:a", &News { payload: "still here".into() }, Some(1))
        .await
        .expect("sent");
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "news", "payload": "still here", "version": 1, "topic": "feed:a", "seq": 1})
    );
    comm.disconnect().await;
}

/// Two topics whose group names clean to the same name (`feed:a b` and `feed:a-b` are both
/// `FeedTopic.feed-a-b`) share the group: leaving one, however slowly, keeps the other's pushes.
#[tokio::test(start_paused = true)]
async fn leaving_a_topic_keeps_another_topic_that_shares_its_group() {
    let router = router();
    let mut comm = WebsocketCommunicator::connect(&router, "/ws/hub/").await;
    comm.subscribe("feed:a b").await;
    comm.send_json(&json!({"version": 1, "topic": "feed:a b", "ref": "u", "action": "unsubscribe"})).await;
    comm.send_json(&json!({"version": 1, "topic": "feed:a-b", "ref": "s", "action": "subscribe"})).await;
    let mut answers = [comm.receive_json().await, comm.receive_json().await];
    answers.sort_by_key(|frame| frame["ref"].as_str().map(str::to_owned));
    assert_eq!(answers[0]["action"], "subscribed");
    assert_eq!(answers[1]["action"], "unsubscribed");
    FeedTopic::broadcast(router.layer(), "feed:a-b", &News { payload: "hi".into() }, None).await.expect("sent");
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "news", "payload": "hi", "version": 1, "topic": "feed:a-b"})
    );
    comm.disconnect().await;
}

/// The topic length limit holds for a standalone route's topic too: a path naming a longer
/// topic is not subscribed at connect time (the same `topic_too_long` its frames would get), so
/// no connection ever follows a topic longer than the limit.
#[tokio::test]
async fn a_standalone_route_whose_topic_is_too_long_is_not_subscribed() {
    let router = router().with_settings(Settings::default().max_topic_length(16));
    let long = "x".repeat(20);
    let mut comm = WebsocketCommunicator::connect(&router, &format!("/ws/feeds/{long}/")).await;
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "error", "payload": {"reason": "topic_too_long", "detail": "A topic is at most 16 bytes"}})
    );
    comm.send_json(&json!({"action": "news", "payload": "x", "ref": "1"})).await;
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "error", "payload": {"reason": "topic_too_long", "detail": "A topic is at most 16 bytes"},
               "version": 1, "ref": "1"})
    );
    comm.disconnect().await;
}

/// A vault refuses `vault:a-b`; `vault:a b` is allowed, and its group name is the same
/// (`VaultTopic.vault-a-b`).
#[derive(Default)]
struct VaultTopic;

#[chanx::topic(pattern = "vault:{name}")]
impl Topic for VaultTopic {
    async fn authorize(&self, _ctx: &Context, params: &chanx::TopicParams) -> bool {
        params.get("name") != Some("a-b")
    }

    #[event_handler]
    async fn news(&self, event: News) -> News {
        event
    }
}

struct VaultHub;

#[chanx::consumer(topics = [VaultTopic])]
impl VaultHub {}

/// Picking a topic whose group name is that of a refused topic gets none of the refused
/// topic's pushes: a connection receives only the pushes of the exact topics it subscribed.
#[tokio::test(start_paused = true)]
async fn a_topic_sharing_a_refused_topics_group_name_does_not_receive_its_pushes() {
    let router = Router::new().route("/ws/vault/", |_: &Scope| VaultHub);
    let mut comm = WebsocketCommunicator::connect(&router, "/ws/vault/").await;
    assert_eq!(comm.subscribe("vault:a-b").await["payload"]["reason"], "unauthorized");
    assert_eq!(comm.subscribe("vault:a b").await["action"], "subscribed");
    assert_eq!(VaultTopic::group_name("vault:a b"), VaultTopic::group_name("vault:a-b"));
    VaultTopic::broadcast(router.layer(), "vault:a-b", &News { payload: "secret".into() }, None).await.expect("sent");
    VaultTopic::broadcast(router.layer(), "vault:a b", &News { payload: "public".into() }, None).await.expect("sent");
    assert_eq!(
        comm.receive_all_json(Duration::from_millis(200)).await,
        [
            json!({"action": "news", "payload": "public", "version": 1, "topic": "vault:a b"}),
            json!({"action": "event_complete", "payload": null, "version": 1, "topic": "vault:a b"}),
        ]
    );
    comm.disconnect().await;
}

/// A frame for a subscribed topic that has no `#[ws_handler]` at all gets chanx's processing
/// error, with the topic's envelope and no completion frame.
#[tokio::test(start_paused = true)]
async fn a_frame_for_a_topic_without_handlers_is_a_processing_error() {
    let router = router();
    let mut comm = WebsocketCommunicator::connect(&router, "/ws/hub/").await;
    comm.subscribe("feed:a").await;
    comm.send_json(&json!({"version": 1, "topic": "feed:a", "ref": "2", "action": "news", "payload": "x"})).await;
    assert_eq!(
        comm.receive_all_json(Duration::from_millis(200)).await,
        [json!({"action": "error", "payload": {"detail": "Failed to process message"},
                "version": 1, "topic": "feed:a", "ref": "2"})]
    );
    comm.disconnect().await;
}

/// The `safe:` topics a ban closed.
static BANNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn ban(topic: &str) {
    BANNED.lock().expect("banned").push(topic.to_owned());
}

/// A topic whose `authorize` reads the access rule, then takes 100 ms more (a database round
/// trip), so a ban can land while it runs.
#[derive(Default)]
struct SafeTopic;

#[chanx::topic(pattern = "safe:{name}")]
impl Topic for SafeTopic {
    async fn authorize(&self, _ctx: &Context, params: &chanx::TopicParams) -> bool {
        let open = !BANNED.lock().expect("banned").iter().any(|banned| banned == params.topic());
        tokio::time::sleep(Duration::from_millis(100)).await;
        open
    }

    #[event_handler]
    async fn news(&self, event: News) -> News {
        event
    }
}

struct SafeHub;

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "ban")]
struct Ban {
    payload: String,
}

#[chanx::consumer(topics = [SafeTopic])]
impl SafeHub {
    /// Closes `safe:` topics and ends this connection's subscription the payload names.
    #[ws_handler]
    async fn ban(&self, ctx: &Context, msg: Ban) {
        ban(&msg.payload);
        let _ = ctx.revoke_topic(&msg.payload).await;
    }
}

/// `reauthorize` while a subscribe's `authorize` is still running on the old rule: the
/// subscription must not outlive the ban, and a push broadcast after `reauthorize` returned
/// must not reach it.
#[tokio::test(start_paused = true)]
async fn a_reauthorize_during_a_pending_authorize_is_not_lost() {
    let router = Router::new().route("/ws/hub/", |_: &Scope| SafeHub);
    let mut comm = WebsocketCommunicator::connect(&router, "/ws/hub/").await;
    comm.send_json(&json!({"version": 1, "topic": "safe:1", "ref": "s", "action": "subscribe"})).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    ban("safe:1");
    SafeTopic::reauthorize(router.layer(), "safe:1").await.expect("sent");
    let after = News { payload: "after the ban".into() };
    SafeTopic::broadcast(router.layer(), "safe:1", &after, Some(1)).await.expect("sent");
    let frames = comm.receive_all_json(Duration::from_millis(500)).await;
    assert!(frames.iter().all(|f| f["action"] != "news"), "a push after the ban arrived: {frames:?}");
    let last = frames.iter().rev().find(|f| f["topic"] == "safe:1").expect("an answer");
    assert!(
        last["action"] == "unsubscribed" || last["payload"]["reason"] == "unauthorized",
        "still subscribed after the ban: {frames:?}"
    );
    comm.disconnect().await;
}

/// `revoke_topic` while the topic's subscribe is still authorizing on the old rule: the
/// subscribe asks `authorize` again rather than completing on the stale answer.
#[tokio::test(start_paused = true)]
async fn a_revocation_during_a_pending_authorize_is_not_lost() {
    let router = Router::new().route("/ws/hub/", |_: &Scope| SafeHub);
    let mut comm = WebsocketCommunicator::builder(&router, "/ws/hub/").send_completion(false).connect().await;
    comm.send_json(&json!({"version": 1, "topic": "safe:2", "ref": "s", "action": "subscribe"})).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    comm.send_json(&json!({"action": "ban", "payload": "safe:2"})).await;
    let frames = comm.receive_all_json(Duration::from_millis(500)).await;
    let last = frames.iter().rev().find(|f| f["topic"] == "safe:2").expect("an answer");
    assert!(
        last["action"] == "unsubscribed" || last["payload"]["reason"] == "unauthorized",
        "still subscribed after the ban: {frames:?}"
    );
    comm.disconnect().await;
}
