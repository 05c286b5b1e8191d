//! The whole path of a client's text frame: envelope parsing, key decamelizing, routing by
//! action, decoding into the handler's type, the handler's reply or the error frame, camelizing
//! and rendering. The frame goes through the test communicator, over real WebSocket framing, to
//! a consumer that camelizes and to one that does not (the first input byte chooses).
//!
//! Invariants: no panic; the connection stays open (the frame is under the size limit); every
//! frame the server sends is a JSON object with a string `action`; an error frame has chanx's
//! shape, a list of `{type, loc, msg}` or `{detail}`.
#![no_main]

use std::cell::RefCell;
use std::time::Duration;

use chanx::messages::{Ping, Pong};
use chanx::testing::{ReceiveError, WebsocketCommunicator};
use chanx::{Message, Router, Scope, Settings};
use libfuzzer_sys::fuzz_target;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Replies with its payload, so that reply keys of any shape are camelized and rendered.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
#[message(action = "echo")]
struct Echo {
    payload: Value,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
#[message(action = "echoed")]
struct Echoed {
    payload: Value,
}

/// A typed message, so that decoding failures of every kind become validation errors.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
#[message(action = "new_post")]
struct NewPost {
    payload: PostFields,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug)]
struct PostFields {
    title: String,
    body_text: String,
    reply_to: Option<u32>,
    tags: Vec<String>,
    kind: PostKind,
    author: Author,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug)]
#[serde(rename_all = "snake_case")]
enum PostKind {
    Question,
    Answer,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug)]
struct Author {
    user_name: String,
    user_id: i64,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
#[message(action = "post_saved")]
struct PostSaved {
    payload: PostFields,
}

/// A handler that fails, for the `{detail}` error frame.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
#[message(action = "fail")]
struct Fail {
    payload: Option<String>,
}

struct FuzzConsumer;

// Ordered, so that every frame of an input arrives before the next input's.
#[chanx::consumer(ordered = true)]
impl FuzzConsumer {
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }

    #[ws_handler]
    async fn echo(&self, msg: Echo) -> Echoed {
        Echoed { payload: msg.payload }
    }

    #[ws_handler]
    async fn new_post(&self, msg: NewPost) -> PostSaved {
        PostSaved { payload: msg.payload }
    }

    #[ws_handler]
    async fn fail(&self, _msg: Fail) -> Result<Pong, String> {
        Err("refused".into())
    }
}

const PATH: &str = "/ws/fuzz/";
/// Receives wait far longer than libFuzzer's `-timeout`, which reports a slow input first.
const WAIT: Duration = Duration::from_secs(60);

struct Harness {
    runtime: tokio::runtime::Runtime,
    routers: [Router; 2],
    sockets: [Option<WebsocketCommunicator>; 2],
    sentinels: u64,
}

thread_local! {
    static HARNESS: RefCell<Option<Harness>> = const { RefCell::new(None) };
}

fn router(camelize: bool) -> Router {
    // A message limit well above libFuzzer's `-max_len`, even after lossy UTF-8 conversion, so
    // every input fits; no idle timeout or heartbeat, since one of the two sockets may sit unused
    // for minutes of wall-clock time while libFuzzer works on the other's inputs.
    let settings =
        Settings::default().camelize(camelize).max_message_size(8 << 20).idle_timeout(None).heartbeat_interval(None);
    Router::new().with_settings(settings).route(PATH, |_: &Scope| FuzzConsumer)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    HARNESS.with_borrow_mut(|slot| {
        let harness = slot.get_or_insert_with(|| Harness {
            runtime: tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a runtime"),
            routers: [router(false), router(true)],
            sockets: [None, None],
            sentinels: 0,
        });
        let which = usize::from(selector & 1);
        harness.sentinels += 1;
        let sentinel = format!("end-of-input-{}", harness.sentinels);
        let Harness { runtime, routers, sockets, .. } = harness;
        runtime.block_on(async {
            let socket = match &mut sockets[which] {
                Some(socket) => socket,
                empty => empty.insert(
                    WebsocketCommunicator::builder(&routers[which], PATH)
                        .timeout(WAIT)
                        .send_completion(false)
                        .connect()
                        .await,
                ),
            };
            socket.send_text(&text).await;
            // A ping after the input: its pong marks the end of the input's frames.
            socket.send_json(&json!({"action": "ping", "ref": sentinel})).await;
            loop {
                let frame = match socket.try_receive_json(WAIT).await {
                    Ok(frame) => frame,
                    Err(ReceiveError::Closed(code)) => panic!("the server closed the connection ({code:?})"),
                    Err(err) => panic!("{err}"),
                };
                check_frame(&frame);
                if frame["action"] == "pong" && frame["ref"] == sentinel.as_str() {
                    break;
                }
            }
        });
    });
});

fn check_frame(frame: &Value) {
    let Some(object) = frame.as_object() else { panic!("a frame that is not an object: {frame}") };
    let Some(action) = object.get("action").and_then(Value::as_str) else { panic!("a frame without action: {frame}") };
    if action != "error" {
        return;
    }
    match &frame["payload"] {
        Value::Array(errors) if !errors.is_empty() => {
            for error in errors {
                let Some(error) = error.as_object() else { panic!("an error that is not an object: {frame}") };
                let mut keys: Vec<&str> = error.keys().map(String::as_str).collect();
                keys.sort_unstable();
                assert_eq!(keys, ["loc", "msg", "type"], "error keys in {frame}");
                assert!(error["type"].as_str().is_some_and(|t| !t.is_empty()), "error type in {frame}");
                assert!(error["msg"].is_string(), "error msg in {frame}");
                let Some(loc) = error["loc"].as_array() else { panic!("error loc in {frame}") };
                assert!(loc.iter().all(|part| part.is_string() || part.is_u64()), "error loc in {frame}");
            }
        }
        Value::Object(detail) => {
            assert_eq!(detail.len(), 1, "an error detail in {frame}");
            assert!(detail.get("detail").is_some_and(Value::is_string), "an error detail in {frame}");
        }
        _ => panic!("an error frame of unknown shape: {frame}"),
    }
}
