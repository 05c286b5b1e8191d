//! Consumer behaviour, driven through the test communicator: dispatch, every error frame and
//! that the socket survives it, the lifecycle order, groups, events and camelize.
//!
//! Every test runs on tokio's paused clock: the communicator's pipe is in memory, so time moves
//! only when every task waits, handlers' sleeps and the rate limit's refill take no real time,
//! and the quiet windows of `receive_all_json` and `receive_nothing` end as soon as nothing is
//! left to run.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chanx::layer::{LayerBody, LayerMessage, MemoryLayer, safe_group_name};
use chanx::messages::{COMPLETE, EVENT_COMPLETE, GROUP_COMPLETE, Ping, Pong};
use chanx::testing::{CaptureLayer, ReceiveError, Target, WebsocketCommunicator};
use chanx::{Consumer, Context, Layer, Message, RateLimit, Router, Scope, Settings};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(2);

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "echo")]
struct Echo {
    payload: EchoPayload,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
struct EchoPayload {
    user_name: String,
    count: i32,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "echo_reply")]
struct EchoReply {
    payload: EchoPayload,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "boom")]
struct Boom {}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "panic")]
struct PanicNow {}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "say")]
struct Say {
    payload: String,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "say_to_others")]
struct SayToOthers {
    payload: String,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "said")]
struct Said {
    payload: String,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "join")]
struct Join {
    payload: String,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "whoami")]
struct WhoAmI {}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "you_are")]
struct YouAre {
    payload: YouArePayload,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
struct YouArePayload {
    channel_name: String,
    room: String,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "sleep")]
struct Sleep {
    payload: u64,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "slept")]
struct Slept {
    payload: u64,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "job_done")]
struct JobDone {
    payload: u32,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "job_status")]
struct JobStatus {
    payload: String,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "notice")]
struct Notice {
    payload: String,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "quit")]
struct Quit {}

/// A room of a chat: everything a test needs to exercise.
struct RoomConsumer {
    log: Arc<Mutex<Vec<String>>>,
}

impl RoomConsumer {
    fn record(&self, entry: impl Into<String>) {
        self.log.lock().expect("log").push(entry.into());
    }
}

/// Rooms of a chat.
#[chanx::consumer(passthrough = [Notice], emits = [Notice], tags = ["chat"])]
impl Consumer for RoomConsumer {
    fn groups(&self, ctx: &Context) -> Vec<String> {
        self.record("groups");
        vec![safe_group_name(Some("room"), &[ctx.param("room").unwrap_or("none")])]
    }

    async fn post_authentication(&self, ctx: &Context) {
        self.record(format!("post_authentication in {:?}", ctx.groups()));
    }

    async fn disconnect(&self, _ctx: &Context) {
        self.record("disconnect");
    }

    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }

    #[ws_handler]
    async fn echo(&self, msg: Echo) -> EchoReply {
        EchoReply { payload: msg.payload }
    }

    #[ws_handler]
    async fn boom(&self, _msg: Boom) -> Result<(), String> {
        Err("kaboom".into())
    }

    #[ws_handler]
    async fn panic_now(&self, _msg: PanicNow) -> Pong {
        panic!("handler panicked on purpose")
    }

    #[ws_handler(output = [Said])]
    async fn say(&self, ctx: &Context, msg: Say) -> Result<(), chanx::layer::LayerError> {
        ctx.broadcast_message(&Said { payload: msg.payload }).await
    }

    #[ws_handler(output = [Said])]
    async fn say_to_others(&self, ctx: &Context, msg: SayToOthers) -> Result<(), chanx::layer::LayerError> {
        ctx.broadcast_message(&Said { payload: msg.payload }).exclude_current().await
    }

    #[ws_handler]
    async fn join(&self, ctx: &Context, msg: Join) -> Result<(), chanx::layer::LayerError> {
        ctx.join_group(&msg.payload).await
    }

    #[ws_handler]
    async fn whoami(&self, ctx: &Context, _msg: WhoAmI) -> YouAre {
        let room = ctx.param("room").unwrap_or_default().to_owned();
        YouAre { payload: YouArePayload { channel_name: ctx.channel_name().to_owned(), room } }
    }

    #[ws_handler]
    async fn sleep(&self, msg: Sleep) -> Slept {
        tokio::time::sleep(Duration::from_millis(msg.payload)).await;
        Slept { payload: msg.payload }
    }

    #[ws_handler]
    async fn quit(&self, ctx: &Context, _msg: Quit) {
        ctx.close(4321, "bye");
    }

    #[event_handler]
    async fn job_done(&self, event: JobDone) -> JobStatus {
        JobStatus { payload: format!("job {} done", event.payload) }
    }
}

struct App {
    router: Router,
    layer: Arc<MemoryLayer>,
    log: Arc<Mutex<Vec<String>>>,
}

fn app_with(settings: Settings) -> App {
    let layer = Arc::new(MemoryLayer::default());
    let log = Arc::new(Mutex::new(Vec::new()));
    let factory_log = log.clone();
    let rooms = Router::new().route("/{room}/", move |_: &Scope| RoomConsumer { log: factory_log.clone() });
    let router = Router::new().nest("/ws/room", rooms).with_layer(Layer::new(layer.clone())).with_settings(settings);
    App { router, layer, log }
}

fn app() -> App {
    app_with(Settings::default())
}

async fn connect(app: &App, room: &str) -> WebsocketCommunicator {
    WebsocketCommunicator::connect(&app.router, &format!("/ws/room/{room}/")).await
}

async fn whoami(comm: &mut WebsocketCommunicator) -> String {
    comm.send_message(&WhoAmI {}).await;
    let frames = comm.receive_all_messages(COMPLETE, WAIT).await;
    frames[0]["payload"]["channel_name"].as_str().expect("channel name").to_owned()
}

#[tokio::test(start_paused = true)]
async fn a_ping_gets_a_pong_then_complete() {
    let app = app();
    let mut comm = connect(&app, "a").await;
    comm.send_message(&Ping {}).await;
    assert_eq!(comm.receive_json().await, json!({"action": "pong", "payload": null}));
    assert_eq!(comm.receive_json().await, json!({"action": "complete", "payload": null}));
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn a_typed_message_round_trips() {
    let app = app();
    let mut comm = connect(&app, "a").await;
    let payload = EchoPayload { user_name: "ada".into(), count: 3 };
    comm.send_message(&Echo { payload: payload.clone() }).await;
    assert_eq!(comm.receive_message::<EchoReply>().await, EchoReply { payload });
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn invalid_payloads_get_a_located_error_list() {
    let app = app();
    let mut comm = connect(&app, "a").await;
    comm.send_json(&json!({"action": "echo", "payload": {"count": 1}})).await;
    let frames = comm.receive_all_messages(COMPLETE, WAIT).await;
    assert_eq!(
        frames,
        [json!({"action": "error", "payload": [
            {"type": "missing", "loc": ["echo", "payload", "user_name"], "msg": "Field required"}
        ]})]
    );
    comm.send_json(&json!({"action": "echo", "payload": {"user_name": "a", "count": "x"}})).await;
    let frames = comm.receive_all_messages(COMPLETE, WAIT).await;
    assert_eq!(
        frames[0]["payload"],
        json!([{"type": "int_parsing", "loc": ["echo", "payload", "count"],
                "msg": "Input should be a valid integer, unable to parse string as an integer"}])
    );
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn unknown_and_missing_actions_are_reported() {
    let app = app();
    let mut comm = connect(&app, "a").await;
    comm.send_json(&json!({"action": "nope"})).await;
    let frames = comm.receive_all_messages(COMPLETE, WAIT).await;
    assert_eq!(frames[0]["payload"][0]["type"], "union_tag_invalid");
    assert_eq!(
        frames[0]["payload"][0]["msg"],
        "Input tag 'nope' found using 'action' does not match any of the expected tags: 'boom', 'echo', \
         'join', 'panic', 'ping', 'quit', 'say', 'say_to_others', 'sleep', 'whoami'"
    );
    comm.send_json(&json!({"action": 5})).await;
    let frames = comm.receive_all_messages(COMPLETE, WAIT).await;
    assert_eq!(frames[0]["payload"][0]["type"], "union_tag_invalid");
    comm.send_json(&json!({"payload": 1})).await;
    let frames = comm.receive_all_messages(COMPLETE, WAIT).await;
    assert_eq!(
        frames,
        [json!({"action": "error", "payload": [{"type": "union_tag_not_found", "loc": [],
                 "msg": "Unable to extract tag using discriminator 'action'"}]})]
    );
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn malformed_frames_get_errors_without_completion_and_the_socket_survives() {
    let app = app();
    let mut comm = connect(&app, "a").await;
    comm.send_text("not json").await;
    let error = comm.receive_json().await;
    assert_eq!(error["payload"][0]["type"], "json_invalid");
    assert!(error["payload"][0]["msg"].as_str().is_some_and(|m| m.starts_with("Invalid JSON: ")));
    comm.send_binary(vec![0, 1]).await;
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "error", "payload": [{"type": "json_invalid", "loc": [],
                "msg": "Invalid JSON: binary frames are not supported"}]})
    );
    for non_object in [json!([1, 2]), json!("x"), json!(5)] {
        comm.send_json(&non_object).await;
        assert_eq!(comm.receive_json().await["payload"][0]["type"], "model_type");
    }
    comm.send_json(&json!({"action": "ping", "version": "x"})).await;
    assert_eq!(comm.receive_json().await["payload"][0]["loc"], json!(["version"]));
    comm.send_json(&json!({"action": "ping", "ref": 1})).await;
    assert_eq!(
        comm.receive_json().await["payload"],
        json!([{"type": "string_type", "loc": ["ref"], "msg": "Input should be a valid string"}])
    );
    // No completion followed any of them, and the socket still works.
    assert!(comm.receive_nothing().await);
    comm.send_message(&Ping {}).await;
    assert_eq!(comm.receive_all_messages(COMPLETE, WAIT).await, [json!({"action": "pong", "payload": null})]);
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn handler_errors_and_panics_answer_with_detail_and_the_socket_survives() {
    let app = app();
    let mut comm = connect(&app, "a").await;
    let mut neighbour = connect(&app, "a").await;
    comm.send_message(&Boom {}).await;
    assert_eq!(
        comm.receive_all_messages(COMPLETE, WAIT).await,
        [json!({"action": "error", "payload": {"detail": "Failed to process message for boom"}})]
    );
    comm.send_message(&PanicNow {}).await;
    assert_eq!(
        comm.receive_all_messages(COMPLETE, WAIT).await,
        [json!({"action": "error", "payload": {"detail": "Failed to process message for panic"}})]
    );
    comm.send_message(&Ping {}).await;
    assert_eq!(comm.receive_all_messages(COMPLETE, WAIT).await, [json!({"action": "pong", "payload": null})]);
    neighbour.send_message(&Ping {}).await;
    assert_eq!(neighbour.receive_all_messages(COMPLETE, WAIT).await, [json!({"action": "pong", "payload": null})]);
    comm.disconnect().await;
    neighbour.disconnect().await;
}

/// A message whose decoding is user code that panics on the payload `"panic"`.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
#[message(action = "fragile")]
struct Fragile {
    #[allow(dead_code)]
    payload: Brittle,
}

#[derive(Serialize, JsonSchema, Debug)]
#[schemars(with = "String")]
struct Brittle;

impl<'de> Deserialize<'de> for Brittle {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match String::deserialize(deserializer)?.as_str() {
            "panic" => panic!("Deserialize panicked on purpose"),
            _ => Ok(Brittle),
        }
    }
}

struct FragileConsumer;

#[chanx::consumer]
impl Consumer for FragileConsumer {
    #[ws_handler]
    async fn fragile(&self, _msg: Fragile) -> Pong {
        Pong {}
    }
}

#[tokio::test(start_paused = true)]
async fn a_message_whose_decoding_panics_is_answered_like_a_panicking_handler() {
    let router = Router::new().route("/ws/fragile/", |_: &Scope| FragileConsumer);
    let mut comm = WebsocketCommunicator::connect(&router, "/ws/fragile/").await;
    let failed = json!({"action": "error", "payload": {"detail": "Failed to process message for fragile"}});
    // A plain frame is decoded from its text; one with `ref` from its parsed map: both panic.
    comm.send_json(&json!({"action": "fragile", "payload": "panic"})).await;
    assert_eq!(comm.receive_all_messages(COMPLETE, WAIT).await, std::slice::from_ref(&failed));
    comm.send_json(&json!({"action": "fragile", "payload": "panic", "ref": "2"})).await;
    assert_eq!(
        comm.receive_all_messages(COMPLETE, WAIT).await,
        [json!({"action": "error", "payload": failed["payload"], "version": 1, "ref": "2"})]
    );
    comm.send_json(&json!({"action": "fragile", "payload": "fine"})).await;
    assert_eq!(comm.receive_all_messages(COMPLETE, WAIT).await, [json!({"action": "pong", "payload": null})]);
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn replies_to_a_frame_with_ref_echo_version_and_ref() {
    let app = app();
    let mut comm = connect(&app, "a").await;
    comm.send_json(&json!({"action": "ping", "ref": "7", "version": 1})).await;
    assert_eq!(comm.receive_json().await, json!({"action": "pong", "payload": null, "version": 1, "ref": "7"}));
    assert_eq!(comm.receive_json().await, json!({"action": "complete", "payload": null, "version": 1, "ref": "7"}));
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn lifecycle_runs_in_chanx_order_and_leaves_every_group() {
    let app = app();
    let mut comm = connect(&app, "lobby").await;
    comm.send_message(&Join { payload: "extra".into() }).await;
    comm.receive_all_messages(COMPLETE, WAIT).await;
    assert_eq!(app.layer.group_size("room.lobby"), 1);
    assert_eq!(app.layer.group_size("extra"), 1);
    comm.disconnect().await;
    assert_eq!(*app.log.lock().expect("log"), ["groups", "post_authentication in [\"room.lobby\"]", "disconnect"]);
    assert_eq!(app.layer.group_size("room.lobby"), 0);
    assert_eq!(app.layer.group_size("extra"), 0);
    assert_eq!(app.layer.channel_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn frames_over_the_rate_limit_are_dropped_with_an_error_frame() {
    let app = app_with(Settings::default().rate_limit(Some(RateLimit::per_second(1).burst(2))));
    let mut comm = WebsocketCommunicator::builder(&app.router, "/ws/room/a/").send_completion(false).connect().await;
    let connected = tokio::time::Instant::now();
    for _ in 0..5 {
        comm.send_message(&Ping {}).await;
    }
    let mut frames = comm.receive_all_json(Duration::from_millis(200)).await;
    frames.sort_by_key(|frame| frame["action"].to_string());
    let limited = json!({"action": "error", "payload": {"detail": "Rate limit exceeded; message dropped"}});
    let pong = json!({"action": "pong", "payload": null});
    assert_eq!(frames, [limited.clone(), limited.clone(), limited.clone(), pong.clone(), pong.clone()]);
    assert_eq!(app.router.metrics().snapshot().frames_dropped_rate_limited, 3);
    // The connection survives; the bucket, empty at 0 s, refills at one frame a second: half a
    // token at 0.5 s is not enough, the whole token at 1 s is.
    tokio::time::sleep_until(connected + Duration::from_millis(500)).await;
    comm.send_message(&Ping {}).await;
    assert_eq!(comm.receive_json().await, limited);
    tokio::time::sleep_until(connected + Duration::from_secs(1)).await;
    comm.send_message(&Ping {}).await;
    assert_eq!(comm.receive_json().await, pong);
    assert_eq!(app.router.metrics().snapshot().frames_dropped_rate_limited, 4);
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn metrics_count_connections_frames_and_bytes() {
    let app = app();
    let mut comm = WebsocketCommunicator::builder(&app.router, "/ws/room/a/").send_completion(false).connect().await;
    comm.send_text(r#"{"action":"ping"}"#).await;
    assert_eq!(comm.receive_json().await, json!({"action": "pong", "payload": null}));
    let open = app.router.metrics().snapshot();
    assert_eq!((open.connections_open, open.connections_total), (1, 1));
    assert_eq!((open.frames_received, open.bytes_received), (1, 17));
    assert_eq!((open.frames_sent, open.bytes_sent), (1, r#"{"action":"pong","payload":null}"#.len() as u64));
    comm.disconnect().await;
    let closed = app.router.metrics().snapshot();
    assert_eq!((closed.connections_open, closed.connections_total), (0, 1));
    assert!(closed.to_prometheus().contains("chanx_frames_received_total 1\n"));
}

#[tokio::test(start_paused = true)]
async fn broadcasts_reach_the_group_only_and_the_sender_unless_excluded() {
    let app = app();
    let mut alice = connect(&app, "a").await;
    let mut bob = connect(&app, "a").await;
    let mut carol = connect(&app, "b").await;
    alice.send_message(&Say { payload: "hi".into() }).await;
    let said = json!({"action": "said", "payload": "hi"});
    assert_eq!(alice.receive_all_messages(GROUP_COMPLETE, WAIT).await, std::slice::from_ref(&said));
    assert_eq!(bob.receive_all_messages(GROUP_COMPLETE, WAIT).await, [said]);
    assert!(carol.receive_nothing().await, "another room must not receive it");

    alice.send_message(&SayToOthers { payload: "psst".into() }).await;
    assert_eq!(bob.receive_all_messages(GROUP_COMPLETE, WAIT).await, [json!({"action": "said", "payload": "psst"})]);
    assert_eq!(alice.receive_all_messages(COMPLETE, WAIT).await, Vec::<Value>::new());
    assert!(alice.receive_nothing().await, "exclude_current skips the sender");
    for comm in [alice, bob, carol] {
        comm.disconnect().await;
    }
}

#[tokio::test(start_paused = true)]
async fn events_sent_from_outside_a_connection_reach_its_handlers() {
    let app = app();
    let mut comm = connect(&app, "a").await;
    let channel = whoami(&mut comm).await;
    let layer = app.router.layer().clone();
    // From a spawned task, as a background job would.
    tokio::spawn(async move { RoomConsumer::broadcast_event_to(&layer, &["room.a"], &JobDone { payload: 7 }).await })
        .await
        .expect("task")
        .expect("sent");
    assert_eq!(
        comm.receive_all_messages(EVENT_COMPLETE, WAIT).await,
        [json!({"action": "job_status", "payload": "job 7 done"})]
    );
    RoomConsumer::send_event(app.router.layer(), &channel, &JobDone { payload: 8 }).await.expect("sent");
    assert_eq!(
        comm.receive_all_messages(EVENT_COMPLETE, WAIT).await,
        [json!({"action": "job_status", "payload": "job 8 done"})]
    );
    RoomConsumer::send_event(app.router.layer(), &channel, &Notice { payload: "fyi".into() }).await.expect("sent");
    assert_eq!(
        comm.receive_all_messages(EVENT_COMPLETE, WAIT).await,
        [json!({"action": "notice", "payload": "fyi"})],
        "passthrough events are forwarded unchanged"
    );
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn an_event_without_handler_is_dropped_quietly() {
    let app = app();
    let mut comm = connect(&app, "a").await;
    let channel = whoami(&mut comm).await;
    app.router.layer().send_event(&channel, &Said { payload: "x".into() }).await.expect("sent");
    assert!(comm.receive_nothing().await);
    comm.send_message(&Ping {}).await;
    assert_eq!(comm.receive_all_messages(COMPLETE, WAIT).await.len(), 1);
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn an_invalid_event_is_dropped_without_completion() {
    let app = app();
    let mut comm = connect(&app, "a").await;
    let channel = whoami(&mut comm).await;
    let bad = LayerBody::ChannelEvent { event_data: json!({"action": "job_done", "payload": "not a number"}) };
    app.router.layer().send(&channel, LayerMessage::new(bad)).await.expect("sent");
    assert!(comm.receive_nothing().await, "invalid events are logged, not sent");
    RoomConsumer::send_event(app.router.layer(), &channel, &JobDone { payload: 1 }).await.expect("sent");
    assert_eq!(comm.receive_all_messages(EVENT_COMPLETE, WAIT).await.len(), 1);
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn path_parameters_are_decoded_and_reach_handlers() {
    let app = app();
    let mut comm = connect(&app, "caf%C3%A9").await;
    comm.send_message(&WhoAmI {}).await;
    let frames = comm.receive_all_messages(COMPLETE, WAIT).await;
    assert_eq!(frames[0]["payload"]["room"], "café");
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn camelize_converts_keys_both_ways_including_broadcasts() {
    let app = app_with(Settings::default().camelize(true));
    let mut comm = connect(&app, "a").await;
    comm.send_json(&json!({"action": "echo", "payload": {"userName": "ada", "count": 1}})).await;
    assert_eq!(
        comm.receive_all_messages(COMPLETE, WAIT).await,
        [json!({"action": "echo_reply", "payload": {"userName": "ada", "count": 1}})]
    );
    comm.send_message(&WhoAmI {}).await;
    let frames = comm.receive_all_messages(COMPLETE, WAIT).await;
    assert!(frames[0]["payload"]["channelName"].is_string(), "{frames:?}");
    comm.send_json(&json!({"action": "echo", "payload": {"count": 1}})).await;
    let frames = comm.receive_all_messages(COMPLETE, WAIT).await;
    assert_eq!(frames[0]["payload"][0]["loc"], json!(["echo", "payload", "user_name"]), "loc values stay snake_case");
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn frames_run_concurrently_by_default_and_in_order_when_asked() {
    let app = app();
    let mut comm = connect(&app, "a").await;
    comm.send_message(&Sleep { payload: 300 }).await;
    comm.send_message(&Sleep { payload: 1 }).await;
    let first = comm.receive_json().await;
    assert_eq!(first, json!({"action": "slept", "payload": 1}), "the quick handler overtakes the slow one");
    comm.disconnect().await;

    let app = app_with(Settings::default().max_in_flight(1));
    let mut comm = connect(&app, "a").await;
    comm.send_message(&Sleep { payload: 100 }).await;
    comm.send_message(&Sleep { payload: 1 }).await;
    let frames = comm.receive_all_json(Duration::from_millis(500)).await;
    let actions: Vec<&Value> = frames.iter().map(|f| &f["payload"]).collect();
    assert_eq!(actions, [&json!(100), &Value::Null, &json!(1), &Value::Null]);
    comm.disconnect().await;
}

/// Takes its frames strictly one after another.
struct Queue;

#[chanx::consumer(ordered = true)]
impl Queue {
    #[ws_handler]
    async fn sleep(&self, msg: Sleep) -> Slept {
        tokio::time::sleep(Duration::from_millis(msg.payload)).await;
        Slept { payload: msg.payload }
    }
}

#[tokio::test(start_paused = true)]
async fn an_ordered_consumer_handles_frames_in_arrival_order() {
    let router = Router::new().route("/queue/", |_: &Scope| Queue);
    let mut comm = WebsocketCommunicator::builder(&router, "/queue/").send_completion(false).connect().await;
    for ms in [80, 1, 40] {
        comm.send_message(&Sleep { payload: ms }).await;
    }
    let frames = comm.receive_all_json(Duration::from_millis(300)).await;
    let order: Vec<&Value> = frames.iter().map(|f| &f["payload"]).collect();
    assert_eq!(order, [&json!(80), &json!(1), &json!(40)]);
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn a_handler_can_close_the_connection() {
    let app = app();
    let mut comm = connect(&app, "a").await;
    comm.send_message(&Quit {}).await;
    comm.assert_closed(4321).await;
    comm.disconnect().await;
    assert_eq!(app.layer.group_size("room.a"), 0);
    // Counted once, as the application's close, not also as the client's answer to it.
    let metrics = app.router.metrics().snapshot();
    assert_eq!((metrics.application_closes, metrics.client_closes), (1, 0));
    assert!(metrics.to_prometheus().contains("chanx_disconnects_total{reason=\"application\"} 1\n"));
}

#[tokio::test]
async fn a_client_that_closes_is_counted_once_as_a_client_close() {
    let app = app();
    let comm = connect(&app, "a").await;
    comm.disconnect().await;
    let metrics = app.router.metrics().snapshot();
    assert_eq!((metrics.client_closes, metrics.transport_errors, metrics.application_closes), (1, 0, 0));
    assert!(metrics.to_prometheus().contains("chanx_client_disconnects_total{reason=\"close_frame\"} 1\n"));
}

#[tokio::test(start_paused = true)]
async fn close_group_closes_exactly_the_members_after_what_was_sent_to_them() {
    let app = app();
    let (mut ada, mut bob) = (connect(&app, "a").await, connect(&app, "a").await);
    let mut eve = connect(&app, "b").await;
    let layer = app.router.layer();
    // As an HTTP handler revoking access would: tell them, then close their sockets.
    layer.broadcast_message(["room.a"], &Notice { payload: "access revoked".into() }).await.expect("sent");
    layer.close_group("room.a", 4403, "access revoked").await.expect("closed");
    for member in [&mut ada, &mut bob] {
        assert_eq!(member.receive_json().await, json!({"action": "notice", "payload": "access revoked"}));
        member.assert_closed(4403).await;
        assert_eq!(member.close_reason(), Some("access revoked"));
    }
    until_group_size(&app.layer, "room.a", 0).await;
    // The connection outside the group is untouched.
    eve.send_message(&Ping {}).await;
    assert_eq!(eve.receive_all_messages(COMPLETE, WAIT).await, [json!({"action": "pong", "payload": null})]);
    assert_eq!(app.router.metrics().snapshot().group_closes, 2);
    assert!(
        app.router.metrics().snapshot().to_prometheus().contains("chanx_disconnects_total{reason=\"close_group\"} 2\n")
    );
    for comm in [ada, bob, eve] {
        comm.disconnect().await;
    }
}

#[tokio::test(start_paused = true)]
async fn close_group_takes_only_application_codes_and_short_reasons() {
    let layer = Layer::memory();
    for code in [999, 1001, 1006, 1008, 1013, 2999, 5000] {
        let refused = layer.close_group("g", code, "").await;
        assert!(
            matches!(refused, Err(chanx::layer::LayerError::InvalidCloseCode(c)) if c == code),
            "{code}: {refused:?}"
        );
    }
    for code in [1000, 3000, 4403, 4999] {
        layer.close_group("g", code, "fine").await.expect("an application code");
    }
    let long = layer.close_group("g", 4000, &"x".repeat(124)).await;
    assert!(matches!(long, Err(chanx::layer::LayerError::CloseReasonTooLong(124))), "{long:?}");
    let bad_group = layer.close_group("not a group", 4000, "").await;
    assert!(matches!(bad_group, Err(chanx::layer::LayerError::InvalidGroupName(_))), "{bad_group:?}");
}

/// A worker whose event handler takes an hour: its inbox fills up behind it.
struct SlowWorker;

#[chanx::consumer(groups = ["jobs"])]
impl SlowWorker {
    #[event_handler]
    async fn job_done(&self, event: JobDone) -> JobStatus {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        JobStatus { payload: format!("job {} done", event.payload) }
    }
}

#[tokio::test(start_paused = true)]
async fn a_connection_whose_inbox_overflows_is_closed_with_1013_instead_of_missing_events() {
    let layer = Arc::new(MemoryLayer::with_capacity(4));
    let settings = Settings::default().drain_timeout(Duration::from_millis(100));
    let router = Router::new()
        .route("/ws/worker/", |_: &Scope| SlowWorker)
        .with_layer(Layer::new(layer.clone()))
        .with_settings(settings);
    let mut worker = WebsocketCommunicator::connect(&router, "/ws/worker/").await;
    let mut sent = 0;
    while router.metrics().snapshot().inbox_overflow_closes == 0 && sent < 100 {
        router.layer().broadcast_event(["jobs"], &JobDone { payload: sent }).await.expect("sent");
        sent += 1;
        tokio::task::yield_now().await;
    }
    // One event runs, four wait, the sixth finds the inbox full.
    assert!(layer.dropped() >= 1 && sent <= 10, "dropped {} of {sent}", layer.dropped());
    worker.assert_closed(chanx::close_code::INBOX_OVERFLOW).await;
    let metrics = router.metrics().snapshot();
    assert_eq!(metrics.inbox_overflow_closes, 1);
    assert!(metrics.to_prometheus().contains("chanx_disconnects_total{reason=\"inbox_overflow\"} 1\n"));
    worker.disconnect().await;
    assert_eq!(layer.group_size("jobs"), 0);
}

#[tokio::test(start_paused = true)]
async fn close_group_closes_a_connection_even_while_its_event_handler_runs() {
    let router = Router::new().route("/ws/worker/", |_: &Scope| SlowWorker);
    let mut worker = WebsocketCommunicator::connect(&router, "/ws/worker/").await;
    let layer = router.layer();
    // The worker is an hour into an event (once every task waits, the handler is in its
    // sleep), so it reads nothing more from its inbox...
    layer.broadcast_event(["jobs"], &JobDone { payload: 1 }).await.expect("sent");
    tokio::time::sleep(Duration::from_millis(1)).await;
    // ...yet a revocation closes it now, and the event's reply is never sent.
    layer.close_group("jobs", 4403, "access revoked").await.expect("sent");
    worker.assert_closed(4403).await;
    assert_eq!(worker.close_reason(), Some("access revoked"));
    assert_eq!(router.metrics().snapshot().group_closes, 1);
    worker.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn broadcast_events_can_be_captured() {
    let capture = CaptureLayer::suppressing();
    RoomConsumer::broadcast_event_to(&capture.layer(), &["room.a"], &JobDone { payload: 1 }).await.expect("sent");
    assert_eq!(capture.events(), [(Target::Group("room.a".into()), json!({"action": "job_done", "payload": 1}))]);
}

/// Waits (bounded) until `room` has `members` connections. On the paused clock (every test
/// here) a 1 ms sleep ends only once every other task waits, so each check sees the
/// connections settled, and no real time passes: it stands in for a notification the layer does
/// not give.
async fn until_group_size(layer: &MemoryLayer, room: &str, members: usize) {
    let waited = tokio::time::timeout(WAIT, async {
        while layer.group_size(room) != members {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "{room} has {} members, expected {members}", layer.group_size(room));
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_is_disconnected_and_others_keep_receiving() {
    let app = app_with(Settings::default().outbound_capacity(8).close_timeout(Duration::from_millis(100)));
    let connect = || WebsocketCommunicator::builder(&app.router, "/ws/room/a/").send_completion(false).connect();
    let mut stalled = connect().await;
    let mut healthy = connect().await;
    const FRAMES: usize = 300;
    let reader = tokio::spawn(async move {
        for _ in 0..FRAMES {
            assert_eq!(healthy.receive_json().await["action"], "said");
        }
        healthy
    });
    // 300 KiB: far more than the stalled client's pipe and queues hold.
    let line = Said { payload: "x".repeat(1024) };
    for _ in 0..FRAMES {
        app.router.layer().broadcast_message(["room.a"], &line).await.expect("sent");
        tokio::task::yield_now().await;
    }
    let healthy = reader.await.expect("the healthy client received every frame");
    until_group_size(&app.layer, "room.a", 1).await;
    // The stalled client, reading at last, finds what fitted in its pipe, then the end.
    let end = loop {
        match stalled.try_receive_json(WAIT).await {
            Ok(frame) => assert_eq!(frame["action"], "said"),
            Err(err) => break err,
        }
    };
    assert!(matches!(end, ReceiveError::Closed(None | Some(1008))), "{end:?}");
    healthy.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn a_client_leaving_mid_handler_is_cleaned_up_after_the_handler() {
    let app = app();
    let mut comm = connect(&app, "a").await;
    comm.send_message(&Sleep { payload: 50 }).await;
    comm.disconnect().await;
    assert_eq!(app.layer.group_size("room.a"), 0);
    assert_eq!(app.log.lock().expect("log").last().map(String::as_str), Some("disconnect"));
}

#[test]
fn the_macro_records_channel_metadata_for_asyncapi() {
    let info = chanx::ConsumerInfo::of::<RoomConsumer>();
    assert_eq!((info.name.as_str(), info.description, info.tags), ("room", Some("Rooms of a chat."), &["chat"][..]));
    let say = info.handlers.iter().find(|h| h.method == "say").expect("say is a handler");
    assert_eq!(say.input.action, "say");
    assert_eq!(say.outputs.iter().map(|o| o.action).collect::<Vec<_>>(), ["said"]);
    let job = info.handlers.iter().find(|h| h.method == "job_done").expect("job_done is a handler");
    assert_eq!((job.kind, job.outputs[0].action), (chanx::HandlerKind::Event, "job_status"));
    assert_eq!(info.passthrough.iter().map(|m| m.action).collect::<Vec<_>>(), ["notice"]);
    assert_eq!(info.emits.iter().map(|m| m.action).collect::<Vec<_>>(), ["notice"]);
}

mod communicator_waits {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn try_receive_times_out_instead_of_hanging() {
        let app = app();
        let mut comm = connect(&app, "a").await;
        let err = comm.try_receive_json(Duration::from_millis(20)).await.expect_err("nothing was sent");
        assert_eq!(err, ReceiveError::Timeout(Duration::from_millis(20)));
        comm.disconnect().await;
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "receive_json: no frame within")]
    async fn receive_json_fails_with_a_clear_message() {
        let app = app();
        let mut comm = WebsocketCommunicator::builder(&app.router, "/ws/room/a/")
            .timeout(Duration::from_millis(20))
            .connect()
            .await;
        comm.receive_json().await;
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "received so far: [{\"action\":\"pong\",\"payload\":null}]")]
    async fn receive_all_messages_quotes_what_arrived() {
        let app = app();
        let mut comm = connect(&app, "a").await;
        comm.send_message(&Ping {}).await;
        comm.receive_all_messages("never", Duration::from_millis(100)).await;
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "no consumer is routed at \"/ws/nowhere/\"")]
    async fn connecting_to_an_unknown_path_names_the_routes() {
        WebsocketCommunicator::connect(&app().router, "/ws/nowhere/").await;
    }
}

/// A tracing subscriber that keeps the `request_id` of every span opened, and nothing else.
#[derive(Clone, Default)]
struct RequestIds(Arc<Mutex<Vec<String>>>);

impl tracing::field::Visit for RequestIds {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "request_id" {
            self.0.lock().expect("ids").push(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

impl tracing::Subscriber for RequestIds {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        span.record(&mut self.clone());
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(start_paused = true)]
async fn a_connections_span_keeps_a_plain_request_id_and_replaces_any_other() {
    let ids = RequestIds::default();
    let _subscriber = tracing::subscriber::set_default(ids.clone());
    let app = app();
    let long = "a".repeat(129);
    let sent = ["trace-me_42.1", "\"} {\"level\":\"ERROR\"", long.as_str(), "id with spaces"];
    for id in sent {
        let mut comm =
            WebsocketCommunicator::builder(&app.router, "/ws/room/a/").header("x-request-id", id).connect().await;
        comm.send_message(&Ping {}).await;
        comm.receive_all_messages(COMPLETE, WAIT).await;
        comm.disconnect().await;
    }
    let logged = ids.0.lock().expect("ids").clone();
    assert_eq!(logged.len(), sent.len(), "{logged:?}");
    assert_eq!(logged[0], "trace-me_42.1", "a proxy's id is kept");
    for (sent, logged) in sent.iter().zip(&logged).skip(1) {
        assert!(logged != sent && logged.len() == 36, "{sent:?} is replaced by a new UUID, not {logged:?}");
    }
}

/// A consumer whose per-connection setup panics after it joined its group.
struct BrokenSetup;

#[chanx::consumer(groups = ["lobby"])]
impl Consumer for BrokenSetup {
    async fn post_authentication(&self, _ctx: &Context) {
        panic!("could not load the user's rooms");
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_post_authentication_closes_with_1011_and_leaves_the_groups() {
    let layer = Arc::new(MemoryLayer::default());
    let router = Router::new().route("/ws/broken/", |_: &Scope| BrokenSetup).with_layer(Layer::new(layer.clone()));
    let mut comm = WebsocketCommunicator::connect(&router, "/ws/broken/").await;
    comm.assert_closed(chanx::close_code::INTERNAL_ERROR).await;
    assert_eq!(comm.close_reason(), Some("internal server error"));
    comm.disconnect().await;
    assert_eq!((layer.group_size("lobby"), layer.channel_count()), (0, 0), "the group and the channel are left");
    let metrics = router.metrics().snapshot();
    assert_eq!((metrics.server_error_closes, metrics.connections_open), (1, 0));
    assert!(metrics.to_prometheus().contains("chanx_disconnects_total{reason=\"server_error\"} 1\n"));
}

/// A consumer that sends the client a long history as it connects.
struct History;

#[chanx::consumer]
impl Consumer for History {
    async fn post_authentication(&self, ctx: &Context) {
        // Page by page, as from a database.
        for page in 0..4 {
            for n in 0..25 {
                ctx.send(&Said { payload: format!("{page}.{n}: {}", "x".repeat(4096)) }).expect("queued");
            }
            tokio::task::yield_now().await;
        }
    }
}

/// 400 KiB queued while connecting is more than the pipe and tungstenite's buffer hold: the
/// write blocks on a client that does not read. Connecting still finishes, and the idle timeout
/// then ends the connection (the blocked write gets the close timeout), instead of the task
/// waiting on that write forever.
#[tokio::test(start_paused = true)]
async fn a_client_that_reads_nothing_while_connecting_cannot_hold_the_connection() {
    let (idle_timeout, close_timeout) = (Duration::from_secs(1), Duration::from_secs(2));
    let settings = Settings::default().idle_timeout(Some(idle_timeout)).close_timeout(close_timeout);
    let router = Router::new().route("/ws/history/", |_: &Scope| History).with_settings(settings);
    let connecting = tokio::time::Instant::now();
    let comm = WebsocketCommunicator::connect(&router, "/ws/history/").await;
    assert_eq!(connecting.elapsed(), Duration::ZERO, "connecting does not wait for the client to read");
    tokio::time::sleep(idle_timeout + close_timeout).await;
    tokio::task::yield_now().await;
    let metrics = router.metrics().snapshot();
    assert_eq!((metrics.idle_timeouts, metrics.connections_open), (1, 0));
    drop(comm);
}
