//! The per-frame log (`Settings::log_frames`): what a subscriber sees of each frame, read by a
//! `tracing` layer installed for the test's thread, while the communicator drives the consumer.

use std::sync::{Arc, Mutex};

use chanx::messages::{Ping, Pong};
use chanx::testing::WebsocketCommunicator;
use chanx::{Consumer, Context, Message, Router, Scope, Settings};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "ask")]
struct Ask {
    payload: String,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "streaming")]
struct Streaming {
    payload: String,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "answer")]
struct Answer {
    payload: String,
}

/// Answers an `ask` with two `streaming` tokens and the `answer`, as an assistant does.
struct Assistant;

#[chanx::consumer]
impl Consumer for Assistant {
    const LOG_IGNORED_ACTIONS: &'static [&'static str] = &["streaming"];

    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }

    #[ws_handler(output = [Streaming])]
    async fn ask(&self, ctx: &Context, msg: Ask) -> Answer {
        for token in ["he", "llo"] {
            ctx.send(&Streaming { payload: token.into() }).expect("queued");
        }
        Answer { payload: format!("hello, {}", msg.payload) }
    }
}

/// The same assistant with its ignore list in the attribute, on an inherent impl.
struct AttributeAssistant;

#[chanx::consumer(log_ignored = ["streaming", "pong"])]
impl AttributeAssistant {
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }

    #[ws_handler(output = [Streaming])]
    async fn ask(&self, ctx: &Context, msg: Ask) -> Answer {
        Assistant.ask(ctx, msg).await
    }
}

/// And on `impl Consumer for X`, beside a hook: the same constant, which the connection reads
/// whichever form set it.
struct TraitAttributeConsumer;

#[chanx::consumer(log_ignored = ["streaming"])]
impl Consumer for TraitAttributeConsumer {
    fn groups(&self, _ctx: &Context) -> Vec<String> {
        vec!["assistants".into()]
    }

    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }
}

/// One logged frame: the fields of a `chanx::frame` event.
#[derive(Debug, Default, Clone, PartialEq)]
struct Logged {
    direction: String,
    action: String,
    channel: String,
    body: Option<String>,
}

impl Visit for Logged {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "direction" => self.direction = value.into(),
            "action" => self.action = value.into(),
            "channel" => self.channel = value.into(),
            "body" => self.body = Some(value.into()),
            _ => {}
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

/// Keeps every `chanx::frame` event.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Logged>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: LayerContext<'_, S>) {
        if event.metadata().target() == "chanx::frame" {
            let mut logged = Logged::default();
            event.record(&mut logged);
            self.0.lock().expect("not poisoned").push(logged);
        }
    }
}

impl Capture {
    fn frames(&self) -> Vec<(String, String)> {
        self.0.lock().expect("not poisoned").iter().map(|l| (l.direction.clone(), l.action.clone())).collect()
    }
}

/// Connects, asks once and pings once with `settings`, and returns what was logged.
async fn conversation(settings: Settings) -> Capture {
    conversation_with(settings, |_: &Scope| Assistant).await
}

/// As [`conversation`], with the consumer `factory` makes.
async fn conversation_with<C>(settings: Settings, factory: fn(&Scope) -> C) -> Capture
where
    C: Consumer,
    C::Authenticator: Default,
{
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    let router = Router::new().route("/assistant/", factory).with_settings(settings);
    let mut comm = WebsocketCommunicator::builder(&router, "/assistant/").send_completion(false).connect().await;
    comm.send_message(&Ask { payload: "you".into() }).await;
    assert_eq!(comm.receive_message::<Streaming>().await.payload, "he");
    assert_eq!(comm.receive_message::<Streaming>().await.payload, "llo");
    assert_eq!(comm.receive_message::<Answer>().await.payload, "hello, you");
    comm.send_message(&Ping {}).await;
    comm.receive_message::<Pong>().await;
    comm.disconnect().await;
    capture
}

fn pairs(frames: &[(&str, &str)]) -> Vec<(String, String)> {
    frames.iter().map(|(d, a)| ((*d).into(), (*a).into())).collect()
}

#[tokio::test(start_paused = true)]
async fn frames_are_logged_with_their_action_and_direction_but_not_ignored_actions() {
    let capture = conversation(Settings::default().log_frames(Some(tracing::Level::DEBUG))).await;
    assert_eq!(
        capture.frames(),
        pairs(&[("received", "ask"), ("sent", "answer"), ("received", "ping"), ("sent", "pong")]),
        "the consumer's LOG_IGNORED_ACTIONS leaves out `streaming`"
    );
    let logged = capture.0.lock().expect("not poisoned").clone();
    assert!(logged.iter().all(|l| !l.channel.is_empty() && l.body.is_none()), "{logged:?}");
}

#[tokio::test(start_paused = true)]
async fn frames_are_not_logged_by_default() {
    assert_eq!(conversation(Settings::default()).await.frames(), Vec::new());
}

#[tokio::test(start_paused = true)]
async fn the_settings_ignore_list_adds_to_the_consumers() {
    let settings = Settings::default().log_frames(Some(tracing::Level::INFO)).log_ignored_actions(["ping", "pong"]);
    assert_eq!(conversation(settings).await.frames(), pairs(&[("received", "ask"), ("sent", "answer")]));
}

#[tokio::test(start_paused = true)]
async fn bodies_are_logged_only_when_asked_and_cut_to_the_limit() {
    let settings = Settings::default().log_frames(Some(tracing::Level::TRACE)).log_frame_bodies(Some(12));
    let capture = conversation(settings).await;
    let logged = capture.0.lock().expect("not poisoned").clone();
    assert_eq!(logged[0].body.as_deref(), Some(r#"{"action":"a"#), "{logged:?}");
    assert!(logged.iter().all(|l| l.body.as_ref().is_some_and(|b| b.len() <= 12)), "{logged:?}");
}

#[tokio::test(start_paused = true)]
async fn the_consumer_attribute_silences_the_actions_it_lists() {
    let settings = || Settings::default().log_frames(Some(tracing::Level::DEBUG));
    assert_eq!(AttributeAssistant::LOG_IGNORED_ACTIONS, ["streaming", "pong"]);
    assert_eq!(
        conversation_with(settings(), |_: &Scope| AttributeAssistant).await.frames(),
        pairs(&[("received", "ask"), ("sent", "answer"), ("received", "ping")]),
        "`log_ignored` leaves out `streaming` and `pong`, and only them"
    );
    assert_eq!(TraitAttributeConsumer::LOG_IGNORED_ACTIONS, ["streaming"], "on `impl Consumer for X` too");
}
