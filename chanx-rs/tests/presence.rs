//! Presence on a topic that opts in: the list after `subscribed`, joins and leaves to the others,
//! the `presence` request, and the cap on entries.

use chanx::testing::WebsocketCommunicator;
use chanx::{Context, Router, Scope, Topic};
use serde_json::{Value, json};

/// A member as rooms list it.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct Member {
    name: String,
}

fn member(ctx: &Context) -> Option<Member> {
    Some(Member { name: ctx.scope().query("name").unwrap_or("anonymous").to_owned() })
}

/// A room whose members are listed by the `name` query parameter, at most three of them, each
/// entry at most 64 bytes of JSON.
#[derive(Default)]
struct RoomTopic;

#[chanx::topic(pattern = "room:{name}", presence = Member)]
impl Topic for RoomTopic {
    const MAX_PRESENCE: usize = 3;
    const MAX_PRESENCE_ENTRY_BYTES: usize = 64;

    fn presence(&self, ctx: &Context) -> Option<Member> {
        member(ctx)
    }
}

/// A room without presence.
#[derive(Default)]
struct PlainTopic;

#[chanx::topic(pattern = "plain:{name}")]
impl Topic for PlainTopic {}

struct Hub;

#[chanx::consumer(topics = [RoomTopic, PlainTopic])]
impl Hub {}

fn router() -> Router {
    Router::new().route("/ws/hub/", |_: &Scope| Hub)
}

async fn join(router: &Router, name: &str, topic: &str) -> (WebsocketCommunicator, Vec<Value>) {
    let mut comm = WebsocketCommunicator::connect(router, &format!("/ws/hub/?name={name}")).await;
    comm.send_json(&json!({"version": 1, "topic": topic, "ref": "s", "action": "subscribe"})).await;
    assert_eq!(comm.receive_json().await["action"], "subscribed");
    let state = comm.receive_json().await;
    assert_eq!(state["action"], "presence_state");
    assert_eq!(state["topic"], topic);
    (comm, names(&state["payload"]["members"]))
}

/// The next frame that is not a completion frame (`group_complete` follows each join and leave
/// as any group message, `event_complete` each push, while completion frames are on).
async fn next(comm: &mut WebsocketCommunicator) -> Value {
    loop {
        let frame = comm.receive_json().await;
        if frame["action"] != "group_complete" && frame["action"] != "event_complete" {
            return frame;
        }
    }
}

fn names(members: &Value) -> Vec<Value> {
    members.as_array().expect("a list of members").iter().map(|m| m["entry"]["name"].clone()).collect()
}

#[tokio::test]
async fn subscribers_see_the_members_and_their_joins_and_leaves() {
    let router = router();
    let (mut ada, members) = join(&router, "ada", "room:joins").await;
    assert_eq!(members, [json!("ada")]);

    let (mut bob, members) = join(&router, "bob", "room:joins").await;
    assert_eq!(members.len(), 2);
    assert!(members.contains(&json!("bob")) && members.contains(&json!("ada")));
    let joined = next(&mut ada).await;
    assert_eq!(joined["action"], "presence_join");
    assert_eq!(joined["topic"], "room:joins");
    assert_eq!(joined["payload"]["entry"], json!({"name": "bob"}));
    assert!(bob.receive_nothing().await, "no join of its own");

    // The list on request, answering the request's ref.
    ada.send_json(&json!({"version": 1, "topic": "room:joins", "ref": "p", "action": "presence"})).await;
    let state = next(&mut ada).await;
    assert_eq!((&state["action"], &state["ref"]), (&json!("presence_state"), &json!("p")));
    assert_eq!(names(&state["payload"]["members"]).len(), 2);

    // Unsubscribing and disconnecting both leave.
    let bob_id = joined["payload"]["id"].clone();
    bob.send_json(&json!({"version": 1, "topic": "room:joins", "ref": "u", "action": "unsubscribe"})).await;
    assert_eq!(bob.receive_json().await["action"], "unsubscribed");
    let left = next(&mut ada).await;
    assert_eq!(left["action"], "presence_leave");
    assert_eq!((&left["payload"]["id"], &left["payload"]["entry"]), (&bob_id, &json!({"name": "bob"})));

    let (carol, _) = join(&router, "carol", "room:joins").await;
    assert_eq!(next(&mut ada).await["action"], "presence_join");
    carol.disconnect().await;
    let left = next(&mut ada).await;
    assert_eq!((&left["action"], &left["payload"]["entry"]["name"]), (&json!("presence_leave"), &json!("carol")));
    bob.disconnect().await;
    ada.disconnect().await;
}

#[tokio::test]
async fn beyond_the_cap_a_subscriber_follows_unlisted() {
    let router = router();
    let mut comms = Vec::new();
    for name in ["a", "b", "c"] {
        comms.push(join(&router, name, "room:cap").await.0);
    }
    let (mut fourth, members) = join(&router, "d", "room:cap").await;
    assert_eq!(members.len(), 3, "the list stops at MAX_PRESENCE");
    assert!(!members.contains(&json!("d")));
    fourth.send_json(&json!({"version": 1, "topic": "room:cap", "ref": "p", "action": "presence"})).await;
    assert_eq!(names(&next(&mut fourth).await["payload"]["members"]).len(), 3);
    // The unlisted subscriber's leave is not announced.
    fourth.disconnect().await;
    let last = comms.last_mut().expect("three subscribers");
    // c saw no join of d, and sees no leave of it.
    assert!(last.receive_nothing().await);
}

#[tokio::test]
async fn an_entry_over_its_byte_cap_follows_unlisted() {
    let router = router();
    let (mut ada, _) = join(&router, "ada", "room:bytes").await;
    // {"name":"…"} is 11 bytes of JSON around the name: 53 bytes fit in 64, 54 do not.
    let (fits, members) = join(&router, &"f".repeat(53), "room:bytes").await;
    assert_eq!(members.len(), 2, "an entry of exactly 64 bytes is listed");
    assert_eq!(next(&mut ada).await["action"], "presence_join");
    assert_eq!(ada.receive_json().await["action"], "group_complete");
    let (mut long, members) = join(&router, &"x".repeat(54), "room:bytes").await;
    assert_eq!(members.len(), 2, "an entry of 65 bytes is not");
    assert!(ada.receive_nothing().await, "and no join is announced for it");
    long.send_json(&json!({"version": 1, "topic": "room:bytes", "ref": "p", "action": "presence"})).await;
    assert_eq!(names(&next(&mut long).await["payload"]["members"]).len(), 2, "it still reads the list");
    long.disconnect().await;
    fits.disconnect().await;
    assert_eq!(next(&mut ada).await["action"], "presence_leave");
    ada.disconnect().await;
}

#[tokio::test]
async fn a_topic_without_presence_sends_no_presence_frames() {
    let router = router();
    let mut comm = WebsocketCommunicator::connect(&router, "/ws/hub/?name=ada").await;
    comm.send_json(&json!({"version": 1, "topic": "plain:x", "ref": "s", "action": "subscribe"})).await;
    assert_eq!(comm.receive_json().await["action"], "subscribed");
    assert!(comm.receive_nothing().await);
    comm.send_json(&json!({"version": 1, "topic": "plain:x", "ref": "p", "action": "presence"})).await;
    let answer = comm.receive_json().await;
    assert_eq!(answer["action"], "error", "presence is an unknown action there: {answer}");
}

/// A room that admits whoever is not on its ban list, checked at subscribe and on reauthorize.
static BANNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

#[derive(Default)]
struct GuardedTopic;

#[chanx::topic(pattern = "guarded:{name}", presence = Member)]
impl Topic for GuardedTopic {
    async fn authorize(&self, ctx: &Context, _params: &chanx::TopicParams) -> bool {
        let name = ctx.scope().query("name").unwrap_or_default().to_owned();
        !BANNED.lock().expect("ban list").contains(&name)
    }

    fn presence(&self, ctx: &Context) -> Option<Member> {
        member(ctx)
    }

    #[event_handler]
    async fn said(&self, event: Said) -> Said {
        event
    }
}

#[derive(chanx::Message, serde::Serialize, serde::Deserialize, schemars::JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "said")]
struct Said {
    payload: String,
}

struct GuardedHub;

#[chanx::consumer(topics = [GuardedTopic])]
impl GuardedHub {}

#[tokio::test]
async fn reauthorize_unsubscribes_only_the_refused_and_no_push_follows() {
    let router = Router::new().route("/ws/hub/", |_: &Scope| GuardedHub);
    let (mut ada, _) = join(&router, "ada", "guarded:r").await;
    let (mut eve, _) = join(&router, "eve", "guarded:r").await;
    assert_eq!(next(&mut ada).await["action"], "presence_join");

    BANNED.lock().expect("ban list").push("eve".into());
    let layer = router.layer().clone();
    GuardedTopic::reauthorize(&layer, "guarded:r").await.expect("sent");
    GuardedTopic::broadcast(&layer, "guarded:r", &Said { payload: "after".into() }, Some(1)).await.expect("sent");

    let revoked = eve.receive_json().await;
    assert_eq!(revoked, json!({"action": "unsubscribed", "payload": null, "version": 1, "topic": "guarded:r"}));
    assert!(eve.receive_nothing().await, "no push after the revocation frame");

    // Ada still follows: she gets the push and eve's leave (in either order: the leave is sent
    // by eve's connection, the push by the caller).
    let mut seen = [next(&mut ada).await, next(&mut ada).await].map(|f| (f["action"].clone(), f["payload"].clone()));
    seen.sort_by_key(|(action, _)| action.to_string());
    assert_eq!(
        seen,
        [(json!("presence_leave"), seen[0].1.clone()), (json!("said"), json!("after"))],
        "the leave and the push"
    );
    assert_eq!(seen[0].1["entry"]["name"], "eve");
}

#[tokio::test]
async fn each_layer_has_its_own_members() {
    // Two apps in one process, each on its own in-memory layer, with a topic of the same name.
    let (one, two) = (router(), router());
    let (mut ada, members) = join(&one, "ada", "room:apart").await;
    assert_eq!(members, [json!("ada")]);
    let (bob, members) = join(&two, "bob", "room:apart").await;
    assert_eq!(members, [json!("bob")], "bob's app does not list ada");
    assert!(ada.receive_nothing().await, "nor does ada's hear of bob");
    ada.disconnect().await;
    bob.disconnect().await;
}
