//! Topics, frame for frame as chanx 2.13 sends them (framework reference §2.4): each test is one
//! row of that table, or one rule around it, through the test communicator.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chanx::messages::{COMPLETE, EVENT_COMPLETE, Ping, Pong};
use chanx::testing::{CaptureLayer, Target, WebsocketCommunicator};
use chanx::{Context, Layer, Message, Router, Scope, Settings, Topic, TopicParams};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(2);

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "reply")]
struct Reply {
    payload: String,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "reply_created")]
struct ReplyCreated {
    payload: String,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "new_reply")]
struct NewReply {
    payload: String,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "note")]
struct Note {
    payload: NoteBody,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
struct NoteBody {
    user_name: String,
}

/// How many times each hook ran, for the tests that count them.
static SUBSCRIBED: AtomicUsize = AtomicUsize::new(0);
static UNSUBSCRIBED: AtomicUsize = AtomicUsize::new(0);

/// A discussion thread: `discussion:999` is refused.
#[derive(Default)]
struct DiscussionTopic;

#[chanx::topic(pattern = "discussion:{pk}")]
impl Topic for DiscussionTopic {
    async fn authorize(&self, _ctx: &Context, params: &TopicParams) -> bool {
        params.get("pk") != Some("999")
    }

    async fn on_subscribe(&self, ctx: &Context) {
        if ctx.topic() == Some("discussion:hooks") {
            SUBSCRIBED.fetch_add(1, Ordering::SeqCst);
        }
    }

    async fn on_unsubscribe(&self, ctx: &Context) {
        if ctx.topic() == Some("discussion:hooks") {
            UNSUBSCRIBED.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[ws_handler]
    async fn reply(&self, msg: Reply) -> ReplyCreated {
        ReplyCreated { payload: msg.payload }
    }

    #[event_handler]
    async fn new_reply(&self, event: NewReply) -> ReplyCreated {
        ReplyCreated { payload: event.payload }
    }
}

/// Another topic with the same action as the discussion's, and its own completion setting.
#[derive(Default)]
struct QuietTopic;

#[chanx::topic(pattern = "quiet:{id}", send_completion = false)]
impl QuietTopic {
    #[ws_handler]
    async fn reply(&self, msg: Reply) -> ReplyCreated {
        ReplyCreated { payload: format!("quietly {}", msg.payload) }
    }

    #[ws_handler]
    async fn note(&self, msg: Note) -> Note {
        msg
    }
}

/// Hosts both topics and answers `ping` and its own `reply` (frames without a topic).
struct HubConsumer;

#[chanx::consumer(topics = [DiscussionTopic, QuietTopic])]
impl HubConsumer {
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }

    #[ws_handler]
    async fn reply(&self, msg: Reply) -> ReplyCreated {
        ReplyCreated { payload: format!("hub {}", msg.payload) }
    }
}

/// The same hub, camelizing.
struct CamelHub;

#[chanx::consumer(topics = [QuietTopic], camelize = true)]
impl CamelHub {}

fn router() -> Router {
    Router::new()
        .route("/ws/hub/", |_: &Scope| HubConsumer)
        .route("/ws/camel/", |_: &Scope| CamelHub)
        .topic::<DiscussionTopic>("/ws/discussion/{pk}/")
}

async fn hub(router: &Router) -> WebsocketCommunicator {
    WebsocketCommunicator::connect(router, "/ws/hub/").await
}

fn topic_frame(topic: &str, reference: &str, action: &str, payload: Value) -> Value {
    json!({"version": 1, "topic": topic, "ref": reference, "action": action, "payload": payload})
}

#[tokio::test]
async fn subscribe_is_answered_with_subscribed_and_the_ref() {
    let router = router();
    let mut comm = hub(&router).await;
    comm.send_json(&json!({"version": 1, "topic": "discussion:5", "ref": "1", "action": "subscribe"})).await;
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "subscribed", "payload": null, "version": 1, "topic": "discussion:5", "ref": "1"})
    );
    assert!(comm.receive_nothing().await, "no completion frame follows a subscribe");
    comm.disconnect().await;
}

#[tokio::test]
async fn a_topic_message_is_answered_with_version_topic_and_ref_after_the_message_keys() {
    let router = router();
    let mut comm = hub(&router).await;
    comm.subscribe("discussion:5").await;
    comm.send_json(&topic_frame("discussion:5", "2", "reply", json!("hi"))).await;
    let text = |frame: Value| serde_json::to_string(&frame).expect("json");
    assert_eq!(
        text(comm.receive_json().await),
        r#"{"action":"reply_created","payload":"hi","version":1,"topic":"discussion:5","ref":"2"}"#
    );
    // Completion follows the global setting (on under test), on the topic too.
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "complete", "payload": null, "version": 1, "topic": "discussion:5", "ref": "2"})
    );
    comm.disconnect().await;
}

#[tokio::test]
async fn an_invalid_topic_message_gets_the_action_prefixed_validation_error() {
    let router = router();
    let mut comm = hub(&router).await;
    comm.subscribe("discussion:5").await;
    comm.send_json(&topic_frame("discussion:5", "3", "reply", json!(5))).await;
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "error",
               "payload": [{"type": "string_type", "loc": ["reply", "payload"], "msg": "Input should be a valid string"}],
               "version": 1, "topic": "discussion:5", "ref": "3"})
    );
    comm.disconnect().await;
}

#[tokio::test]
async fn an_unknown_topic_is_refused_with_unknown_topic() {
    let router = router();
    let mut comm = hub(&router).await;
    comm.send_json(&json!({"version": 1, "topic": "nope:1", "ref": "4", "action": "subscribe"})).await;
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "error", "payload": {"reason": "unknown_topic", "detail": "Unknown topic 'nope:1'"},
               "version": 1, "topic": "nope:1", "ref": "4"})
    );
    // A parameter cannot contain ':'.
    assert_eq!(comm.subscribe("discussion:5:6").await["payload"]["reason"], "unknown_topic");
    comm.disconnect().await;
}

#[tokio::test]
async fn a_refused_authorization_is_unauthorized_and_the_socket_stays_open() {
    let router = router();
    let mut comm = hub(&router).await;
    comm.send_json(&json!({"version": 1, "topic": "discussion:999", "ref": "5", "action": "subscribe"})).await;
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "error",
               "payload": {"reason": "unauthorized", "detail": "Not allowed to subscribe to 'discussion:999'"},
               "version": 1, "topic": "discussion:999", "ref": "5"})
    );
    comm.send_message(&Ping {}).await;
    assert_eq!(comm.receive_all_messages(COMPLETE, WAIT).await, [json!({"action": "pong", "payload": null})]);
    comm.disconnect().await;
}

#[tokio::test]
async fn a_message_for_a_topic_not_subscribed_is_not_subscribed() {
    let router = router();
    let mut comm = hub(&router).await;
    comm.send_json(&topic_frame("discussion:6", "6", "reply", json!("x"))).await;
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "error", "payload": {"reason": "not_subscribed", "detail": "Not subscribed to 'discussion:6'"},
               "version": 1, "topic": "discussion:6", "ref": "6"})
    );
    assert!(comm.receive_nothing().await);
    comm.disconnect().await;
}

#[tokio::test]
async fn a_push_carries_topic_and_seq_and_no_ref() {
    let router = router();
    let mut comm = hub(&router).await;
    comm.subscribe("discussion:5").await;
    DiscussionTopic::broadcast(router.layer(), "discussion:5", &NewReply { payload: "hi".into() }, Some(42))
        .await
        .expect("sent");
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "reply_created", "payload": "hi", "version": 1, "topic": "discussion:5", "seq": 42})
    );
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "event_complete", "payload": null, "version": 1, "topic": "discussion:5", "seq": 42})
    );
    // Without a seq, the push carries none.
    DiscussionTopic::broadcast(router.layer(), "discussion:5", &NewReply { payload: "again".into() }, None)
        .await
        .expect("sent");
    let pushed = comm.receive_topic_message::<ReplyCreated>().await;
    assert_eq!((pushed.topic.as_str(), pushed.reference, pushed.seq), ("discussion:5", None, None));
    comm.disconnect().await;
}

#[tokio::test]
async fn unsubscribe_is_answered_with_unsubscribed_even_when_not_subscribed() {
    let router = router();
    let mut comm = hub(&router).await;
    comm.subscribe("discussion:5").await;
    comm.send_json(&json!({"version": 1, "topic": "discussion:5", "ref": "9", "action": "unsubscribe"})).await;
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "unsubscribed", "payload": null, "version": 1, "topic": "discussion:5", "ref": "9"})
    );
    comm.send_json(&json!({"version": 1, "topic": "discussion:5", "ref": "10", "action": "unsubscribe"})).await;
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "unsubscribed", "payload": null, "version": 1, "topic": "discussion:5", "ref": "10"})
    );
    comm.disconnect().await;
}

#[tokio::test]
async fn subscribing_twice_confirms_again_without_rerunning_on_subscribe_and_disconnect_unsubscribes() {
    let router = router();
    let (before_sub, before_unsub) = (SUBSCRIBED.load(Ordering::SeqCst), UNSUBSCRIBED.load(Ordering::SeqCst));
    let mut comm = hub(&router).await;
    assert_eq!(comm.subscribe("discussion:hooks").await["ref"], "1");
    assert_eq!(
        comm.subscribe("discussion:hooks").await,
        json!({"action": "subscribed", "payload": null, "version": 1, "topic": "discussion:hooks", "ref": "2"})
    );
    assert_eq!(SUBSCRIBED.load(Ordering::SeqCst) - before_sub, 1);
    // on_unsubscribe runs on disconnect too.
    comm.disconnect().await;
    assert_eq!(UNSUBSCRIBED.load(Ordering::SeqCst) - before_unsub, 1);
}

#[tokio::test]
async fn a_push_after_unsubscribing_is_dropped_without_error() {
    let router = router();
    let mut comm = hub(&router).await;
    comm.subscribe("discussion:7").await;
    comm.unsubscribe("discussion:7").await;
    DiscussionTopic::broadcast(router.layer(), "discussion:7", &NewReply { payload: "late".into() }, Some(1))
        .await
        .expect("no one listens, and that is no error");
    assert!(comm.receive_nothing().await);
    comm.send_message(&Ping {}).await;
    assert_eq!(comm.receive_all_messages(COMPLETE, WAIT).await, [json!({"action": "pong", "payload": null})]);
    comm.disconnect().await;
}

#[tokio::test]
async fn frames_without_a_topic_go_to_the_consumer_and_two_topics_share_an_action() {
    let router = router();
    let mut comm = hub(&router).await;
    comm.send_json(&json!({"action": "reply", "payload": "a", "ref": "1"})).await;
    assert_eq!(
        comm.receive_all_messages(COMPLETE, WAIT).await,
        [json!({"action": "reply_created", "payload": "hub a", "version": 1, "ref": "1"})]
    );
    comm.subscribe("discussion:1").await;
    comm.subscribe("quiet:1").await;
    comm.send_to_topic("quiet:1", &Reply { payload: "b".into() }, Some("q")).await;
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "reply_created", "payload": "quietly b", "version": 1, "topic": "quiet:1", "ref": "q"})
    );
    comm.send_to_topic("discussion:1", &Reply { payload: "c".into() }, Some("d")).await;
    assert_eq!(comm.receive_topic_message::<ReplyCreated>().await.message.payload, "c");
    comm.disconnect().await;
}

#[tokio::test]
async fn a_topic_that_turns_completion_off_sends_none_whatever_the_host_says() {
    let router = router();
    let mut comm = hub(&router).await;
    comm.subscribe("quiet:1").await;
    comm.send_to_topic("quiet:1", &Reply { payload: "b".into() }, Some("1")).await;
    assert_eq!(comm.receive_json().await["action"], "reply_created");
    assert!(comm.receive_nothing().await, "QuietTopic sends no completion");
    comm.disconnect().await;
}

#[tokio::test]
async fn camel_case_follows_the_host_consumer_and_envelope_keys_stay() {
    let router = router();
    let mut comm = WebsocketCommunicator::connect(&router, "/ws/camel/").await;
    comm.subscribe("quiet:1").await;
    comm.send_json(
        &json!({"version": 1, "topic": "quiet:1", "ref": "n", "action": "note", "payload": {"userName": "ada"}}),
    )
    .await;
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "note", "payload": {"userName": "ada"}, "version": 1, "topic": "quiet:1", "ref": "n"})
    );
    comm.send_to_topic("quiet:1", &Note { payload: NoteBody { user_name: "bob".into() } }, None).await;
    assert_eq!(comm.receive_topic_message::<Note>().await.message.payload.user_name, "bob");
    comm.disconnect().await;
}

#[tokio::test]
async fn a_standalone_route_subscribes_its_topic_and_takes_frames_without_one() {
    let router = router();
    let mut comm = WebsocketCommunicator::connect(&router, "/ws/discussion/5/").await;
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "subscribed", "payload": null, "version": 1, "topic": "discussion:5"})
    );
    comm.send_json(&json!({"action": "reply", "payload": "hi", "ref": "1"})).await;
    assert_eq!(
        comm.receive_all_messages(COMPLETE, WAIT).await,
        [json!({"action": "reply_created", "payload": "hi", "version": 1, "topic": "discussion:5", "ref": "1"})]
    );
    // The same group as the hub's subscribers: one push reaches both.
    let mut other = hub(&router).await;
    other.subscribe("discussion:5").await;
    DiscussionTopic::broadcast(router.layer(), "discussion:5", &NewReply { payload: "both".into() }, Some(1))
        .await
        .expect("sent");
    for comm in [&mut comm, &mut other] {
        let frames = comm.receive_all_messages(EVENT_COMPLETE, WAIT).await;
        assert_eq!(
            frames,
            [json!({"action": "reply_created", "payload": "both", "version": 1, "topic": "discussion:5", "seq": 1})]
        );
    }
    comm.disconnect().await;
    other.disconnect().await;
}

#[tokio::test]
async fn a_standalone_route_whose_topic_is_refused_says_so_and_stays_open() {
    let router = router();
    let mut comm = WebsocketCommunicator::connect(&router, "/ws/discussion/999/").await;
    assert_eq!(comm.receive_json().await["payload"]["reason"], "unauthorized");
    comm.send_json(&json!({"action": "reply", "payload": "hi"})).await;
    assert_eq!(comm.receive_json().await["payload"]["reason"], "not_subscribed");
    comm.disconnect().await;
}

#[test]
#[should_panic(expected = "its pattern \"discussion:{pk}\" needs the parameter {pk}")]
fn a_standalone_route_without_the_topics_parameter_fails_at_start_up() {
    let _ = Router::new().topic::<DiscussionTopic>("/ws/discussion/{id}/");
}

#[tokio::test]
async fn a_connection_follows_at_most_the_configured_number_of_topics() {
    let router = router().with_settings(Settings::default().max_topics_per_connection(2));
    let mut comm = hub(&router).await;
    comm.subscribe("discussion:1").await;
    comm.subscribe("discussion:2").await;
    assert_eq!(
        comm.subscribe("discussion:3").await,
        json!({"action": "error",
               "payload": {"reason": "too_many_topics", "detail": "A connection follows at most 2 topics"},
               "version": 1, "topic": "discussion:3", "ref": "3"})
    );
    // Already followed: confirmed, not counted again; and leaving one makes room.
    assert_eq!(comm.subscribe("discussion:2").await["action"], "subscribed");
    comm.unsubscribe("discussion:1").await;
    assert_eq!(comm.subscribe("discussion:3").await["action"], "subscribed");
    comm.disconnect().await;
}

#[tokio::test]
async fn a_topic_longer_than_the_limit_is_refused_without_echoing_it() {
    let router = router();
    let mut comm = hub(&router).await;
    let long = format!("discussion:{}", "x".repeat(300));
    comm.send_json(&json!({"version": 1, "topic": long, "ref": "1", "action": "subscribe"})).await;
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "error",
               "payload": {"reason": "topic_too_long", "detail": "A topic is at most 256 bytes"},
               "version": 1, "ref": "1"})
    );
    comm.disconnect().await;
}

#[tokio::test]
async fn many_subscriptions_come_and_go() {
    let router = router().with_settings(Settings::default().max_topics_per_connection(100));
    let mut comm = hub(&router).await;
    for n in 0..100 {
        assert_eq!(comm.subscribe(&format!("discussion:{n}")).await["action"], "subscribed");
    }
    for n in 0..100 {
        assert_eq!(comm.unsubscribe(&format!("discussion:{n}")).await["action"], "unsubscribed");
    }
    comm.disconnect().await;
}

/// The user an authenticator found, as a topic's authorize sees it.
struct User(&'static str);

struct SeesUser;

impl chanx::auth::Authenticator for SeesUser {
    async fn authenticate(
        &self,
        ctx: &Context,
    ) -> Result<chanx::messages::AuthenticationPayload, chanx::auth::AuthError> {
        ctx.insert_extension(User("ada"));
        Ok(chanx::messages::AuthenticationPayload::ok())
    }
}

/// Only the user named in the path may follow their inbox, and only `inbox:<their name>`.
#[derive(Default)]
struct InboxTopic;

#[chanx::topic(pattern = "inbox:{owner}")]
impl Topic for InboxTopic {
    async fn authorize(&self, ctx: &Context, params: &TopicParams) -> bool {
        let user = ctx.extension::<User>();
        user.is_some_and(|u| Some(u.0) == params.get("owner") && Some(u.0) == ctx.param("user"))
    }
}

struct Inboxes;

#[chanx::consumer(topics = [InboxTopic], authenticator = SeesUser)]
impl Inboxes {}

#[tokio::test]
async fn authorize_sees_the_user_the_path_and_the_topic_parameters() {
    let router = Router::new().route_authenticated("/ws/users/{user}/", SeesUser, |_: &Scope| Inboxes);
    let mut comm = WebsocketCommunicator::connect(&router, "/ws/users/ada/").await;
    comm.assert_authenticated_status_ok().await;
    assert_eq!(comm.subscribe("inbox:ada").await["action"], "subscribed");
    assert_eq!(comm.subscribe("inbox:bob").await["payload"]["reason"], "unauthorized");
    comm.disconnect().await;
}

#[tokio::test]
async fn capture_layer_records_topic_broadcasts_under_chanx_group_names() {
    let capture = CaptureLayer::suppressing();
    let layer: Layer = capture.layer();
    DiscussionTopic::broadcast(&layer, "discussion:5", &NewReply { payload: "x".into() }, Some(3)).await.expect("sent");
    let captured = capture.captured();
    assert_eq!(captured[0].target, Target::Group("DiscussionTopic.discussion-5".into()));
    let sent = capture.topic_broadcasts();
    assert_eq!((sent[0].topic.as_str(), sent[0].seq), ("discussion:5", Some(3)));
    assert_eq!(sent[0].event, json!({"action": "new_reply", "payload": "x"}));
}

/// A topic whose authorization takes a second.
#[derive(Default)]
struct SlowTopic;

#[chanx::topic(pattern = "slow:{id}")]
impl Topic for SlowTopic {
    async fn authorize(&self, _ctx: &Context, _params: &TopicParams) -> bool {
        tokio::time::sleep(Duration::from_secs(1)).await;
        true
    }
}

struct SlowHub;

#[chanx::consumer(topics = [SlowTopic])]
impl SlowHub {}

#[tokio::test(start_paused = true)]
async fn subscribes_under_way_count_against_the_limit() {
    let router = Router::new()
        .route("/ws/slow/", |_: &Scope| SlowHub)
        .with_settings(Settings::default().max_topics_per_connection(1));
    let mut comm = WebsocketCommunicator::builder(&router, "/ws/slow/").timeout(Duration::from_secs(5)).connect().await;
    for (n, topic) in ["slow:1", "slow:2"].into_iter().enumerate() {
        comm.send_json(&json!({"version": 1, "topic": topic, "ref": n.to_string(), "action": "subscribe"})).await;
    }
    // The second is refused while the first is still authorizing; then the first is confirmed.
    let refused = comm.receive_json().await;
    assert_eq!(
        (refused["topic"].as_str(), refused["payload"]["reason"].as_str()),
        (Some("slow:2"), Some("too_many_topics"))
    );
    let confirmed = comm.receive_json().await;
    assert_eq!((confirmed["action"].as_str(), confirmed["topic"].as_str()), (Some("subscribed"), Some("slow:1")));
    comm.disconnect().await;
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "leave")]
struct Leave {}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "revoke")]
struct Revoke {
    payload: String,
}

static GATE_UNSUBSCRIBED: AtomicUsize = AtomicUsize::new(0);

/// A topic whose access the server can end: by its own handler (`leave`) or the consumer's.
#[derive(Default)]
struct GateTopic;

#[chanx::topic(pattern = "gate:{id}")]
impl Topic for GateTopic {
    async fn on_unsubscribe(&self, _ctx: &Context) {
        GATE_UNSUBSCRIBED.fetch_add(1, Ordering::SeqCst);
    }

    #[ws_handler]
    async fn leave(&self, ctx: &Context, _msg: Leave) {
        let topic = ctx.topic().unwrap_or_default().to_owned();
        assert!(ctx.revoke_topic(&topic).await);
    }

    #[event_handler]
    async fn new_reply(&self, event: NewReply) -> ReplyCreated {
        ReplyCreated { payload: event.payload }
    }
}

struct GateHub;

#[chanx::consumer(topics = [GateTopic], groups = ["gate.admins"])]
impl GateHub {
    /// Ends the subscription the payload names, as an application whose rules changed would.
    #[ws_handler]
    async fn revoke(&self, ctx: &Context, msg: Revoke) {
        let _ = ctx.revoke_topic(&msg.payload).await;
    }

    /// The same, asked from outside the connection (an HTTP handler, another process).
    #[event_handler]
    async fn revoke_from_outside(&self, ctx: &Context, event: Revoke) {
        let _ = ctx.revoke_topic(&event.payload).await;
    }
}

#[tokio::test]
async fn an_event_from_outside_the_connection_ends_a_subscription() {
    let router = Router::new().route("/ws/gate/", |_: &Scope| GateHub);
    let mut comm = WebsocketCommunicator::connect(&router, "/ws/gate/").await;
    comm.subscribe("gate:7").await;
    router.layer().broadcast_event(["gate.admins"], &Revoke { payload: "gate:7".into() }).await.expect("sent");
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "unsubscribed", "payload": null, "version": 1, "topic": "gate:7"})
    );
    GateTopic::broadcast(router.layer(), "gate:7", &NewReply { payload: "late".into() }, None).await.expect("sent");
    let after: Vec<Value> = comm.receive_all_json(Duration::from_millis(100)).await;
    assert!(after.iter().all(|frame| frame.get("topic").is_none()), "a push arrived after the revocation: {after:?}");
    comm.disconnect().await;
}

#[tokio::test]
async fn the_server_ends_a_subscription_and_the_socket_stays_open() {
    let router = Router::new().route("/ws/gate/", |_: &Scope| GateHub);
    let mut comm = WebsocketCommunicator::connect(&router, "/ws/gate/").await;
    comm.subscribe("gate:1").await;
    comm.subscribe("gate:2").await;
    let before = GATE_UNSUBSCRIBED.load(Ordering::SeqCst);

    // From the consumer's handler: `unsubscribed` for the topic, with no ref.
    comm.send_json(&json!({"action": "revoke", "payload": "gate:1"})).await;
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "unsubscribed", "payload": null, "version": 1, "topic": "gate:1"})
    );
    assert_eq!(comm.receive_json().await, json!({"action": COMPLETE, "payload": null}));
    assert_eq!(GATE_UNSUBSCRIBED.load(Ordering::SeqCst), before + 1);
    // Its pushes no longer arrive; the other topic's still do.
    GateTopic::broadcast(router.layer(), "gate:1", &NewReply { payload: "late".into() }, None).await.expect("sent");
    assert_eq!(
        comm.receive_all_json(Duration::from_millis(100)).await,
        Vec::<Value>::new(),
        "a push arrived after the revocation"
    );
    GateTopic::broadcast(router.layer(), "gate:2", &NewReply { payload: "live".into() }, None).await.expect("sent");
    assert_eq!(comm.receive_topic_message::<ReplyCreated>().await.topic, "gate:2");
    assert_eq!(comm.receive_json().await["action"], EVENT_COMPLETE);
    // Frames to the revoked topic are answered as for any topic not subscribed.
    comm.send_json(&topic_frame("gate:1", "3", "leave", json!(null))).await;
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "error", "payload": {"reason": "not_subscribed", "detail": "Not subscribed to 'gate:1'"},
               "version": 1, "topic": "gate:1", "ref": "3"})
    );

    // From the topic's own handler; revoking what is not subscribed sends nothing.
    comm.send_json(&topic_frame("gate:2", "4", "leave", json!(null))).await;
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "unsubscribed", "payload": null, "version": 1, "topic": "gate:2"})
    );
    assert_eq!(
        comm.receive_json().await,
        json!({"action": COMPLETE, "payload": null, "version": 1, "topic": "gate:2", "ref": "4"})
    );
    comm.send_json(&json!({"action": "revoke", "payload": "gate:2"})).await;
    assert_eq!(comm.receive_json().await, json!({"action": COMPLETE, "payload": null}), "only the completion answers");
    assert_eq!(GATE_UNSUBSCRIBED.load(Ordering::SeqCst), before + 2);
    // The socket is open: subscribing again works.
    assert_eq!(comm.subscribe("gate:2").await["action"], "subscribed");
    comm.disconnect().await;
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "hold")]
struct Hold {}

/// A topic whose `hold` push keeps the connection's pushes waiting for a second.
#[derive(Default)]
struct HeldGateTopic;

#[chanx::topic(pattern = "held:{id}")]
impl Topic for HeldGateTopic {
    const SEND_COMPLETION: Option<bool> = Some(false);

    #[event_handler]
    async fn hold(&self, _event: Hold) {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    #[event_handler]
    async fn new_reply(&self, event: NewReply) -> ReplyCreated {
        ReplyCreated { payload: event.payload }
    }
}

struct HeldGateHub;

#[chanx::consumer(topics = [HeldGateTopic], send_completion = false)]
impl HeldGateHub {
    #[ws_handler]
    async fn revoke(&self, ctx: &Context, msg: Revoke) {
        let _ = ctx.revoke_topic(&msg.payload).await;
    }
}

#[tokio::test(start_paused = true)]
async fn no_push_arrives_after_the_revocation_frame() {
    let router = Router::new().route("/ws/held/", |_: &Scope| HeldGateHub);
    let mut comm = WebsocketCommunicator::connect(&router, "/ws/held/").await;
    comm.subscribe("held:1").await;
    // A push is queued behind a slow one when the subscription is revoked.
    HeldGateTopic::broadcast(router.layer(), "held:1", &Hold {}, None).await.expect("sent");
    HeldGateTopic::broadcast(router.layer(), "held:1", &NewReply { payload: "queued".into() }, None)
        .await
        .expect("sent");
    comm.send_json(&json!({"action": "revoke", "payload": "held:1"})).await;
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "unsubscribed", "payload": null, "version": 1, "topic": "held:1"})
    );
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(comm.receive_all_json(Duration::from_millis(100)).await, Vec::<Value>::new());
    comm.disconnect().await;
}
