//! Frames an attacker would send, through the test communicator: each gets its answer in time
//! linear in its size, and the socket keeps working afterwards. (Speed itself is measured by
//! `bench/src/bin/parsers.rs`; these tests would run for minutes on quadratic code.)

use chanx::messages::{COMPLETE, Ping};
use chanx::testing::WebsocketCommunicator;
use chanx::{Message, Router, Scope, Settings};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "echo")]
struct Echo {
    payload: EchoPayload,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
struct EchoPayload {
    user_name: String,
}

/// Sends its payload object back, so that the reply's keys are camelized too.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "mirror")]
struct Mirror {
    payload: Map<String, Value>,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "mirrored")]
struct Mirrored {
    payload: Map<String, Value>,
}

struct Target;

#[chanx::consumer]
impl Target {
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> chanx::messages::Pong {
        chanx::messages::Pong {}
    }

    #[ws_handler]
    async fn echo(&self, msg: Echo) -> Echo {
        msg
    }

    #[ws_handler]
    async fn mirror(&self, msg: Mirror) -> Mirrored {
        Mirrored { payload: msg.payload }
    }
}

fn camelizing_router() -> Router {
    Router::new().route("/ws/", |_: &Scope| Target).with_settings(Settings::default().camelize(true))
}

/// The largest key a frame under the default 1 MiB limit can carry, less room for the rest.
const HUGE: usize = (1 << 20) - 100;

async fn still_answers_a_ping(comm: &mut WebsocketCommunicator) {
    comm.send_message(&Ping {}).await;
    assert_eq!(comm.receive_json().await, json!({"action": "pong", "payload": null}));
    assert_eq!(comm.receive_json().await, json!({"action": "complete", "payload": null}));
}

#[tokio::test(start_paused = true)]
async fn a_megabyte_key_of_underscores_gets_its_error_frame_and_the_socket_still_answers() {
    let router = camelizing_router();
    let mut comm = WebsocketCommunicator::connect(&router, "/ws/").await;
    let key = "_".repeat(HUGE);
    let frame = format!(r#"{{"action":"echo","payload":{{"{key}":1}}}}"#);
    assert!(frame.len() <= 1 << 20);
    comm.send_text(&frame).await;
    assert_eq!(
        comm.receive_json().await,
        json!({"action": "error", "payload": [
            {"type": "missing", "loc": ["echo", "payload", "user_name"], "msg": "Field required"}
        ]})
    );
    assert_eq!(comm.receive_json().await, json!({"action": "complete", "payload": null}));
    still_answers_a_ping(&mut comm).await;
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn megabyte_keys_are_converted_both_ways() {
    let router = camelizing_router();
    let mut comm = WebsocketCommunicator::connect(&router, "/ws/").await;
    // In: `aAaA…` decamelizes to `a_aa_a…`; out: that camelizes to `aAaA…` again.
    let key = "aA".repeat(HUGE / 2 - 20);
    comm.send_json(&json!({"action": "mirror", "payload": {key.clone(): 1, "__dunder__": 2}})).await;
    let frames = comm.receive_all_messages(COMPLETE, std::time::Duration::from_secs(5)).await;
    let payload = frames[0]["payload"].as_object().expect("the mirrored payload");
    assert_eq!(payload.keys().collect::<Vec<_>>(), [&key, "__dunder__"]);
    // Separators, capitals and digits in long runs, mixed.
    let mixed = format!("{}x{}{}", "-_".repeat(100_000), "A".repeat(100_000), "9".repeat(100_000));
    comm.send_json(&json!({"action": "mirror", "payload": {mixed: 1}})).await;
    let frames = comm.receive_all_messages(COMPLETE, std::time::Duration::from_secs(5)).await;
    assert_eq!(frames[0]["action"], "mirrored");
    still_answers_a_ping(&mut comm).await;
    comm.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn a_megabyte_action_is_quoted_cut_short() {
    let router = camelizing_router();
    let mut comm = WebsocketCommunicator::connect(&router, "/ws/").await;
    comm.send_json(&json!({"action": "x".repeat(HUGE)})).await;
    let error = comm.receive_json().await;
    assert_eq!(error["payload"][0]["type"], "union_tag_invalid");
    assert!(error.to_string().len() < 1024, "the error frame quotes a bounded part of the action");
    assert_eq!(comm.receive_json().await, json!({"action": "complete", "payload": null}));
    still_answers_a_ping(&mut comm).await;
    comm.disconnect().await;
}
